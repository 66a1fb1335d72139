"""Lab interfaces: orders out (HL7 v2 over MLLP, FHIR R4), results in, matching,
structured result forms per kind of test, specimen labels and requisitions.

Sits above `results` (it moves orders through the results services); nothing
below imports it except the one hook in `order_sent` (see docs/integration.md).
"""
