"""Reports: read-only figures across every concern (the operations dashboard).

It sits at the top of the layers beside `today`, owns no models, and reads through
`clinic.db_routers.reporting()`, so its queries run on the read replica.
"""
