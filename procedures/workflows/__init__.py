"""Flows that cross concerns: what booking, moving, starting, completing or
cancelling a visit sets off in prep, patient emails and results; a prep change's
replanning; a review's "results ready". The only layer above the concerns (besides
the day's boards in `procedures.today`): nothing below imports it."""
