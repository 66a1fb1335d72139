"""The clinic's date formats (FORMAT_MODULE_PATH): one way of writing a date on every
page, "14 Mar 1965"; typed dates are read day first."""

DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "d/m/Y"
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d %b %Y", "%d %B %Y"]
FIRST_DAY_OF_WEEK = 1
