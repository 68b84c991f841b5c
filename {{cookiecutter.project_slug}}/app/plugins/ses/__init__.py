"""Email through Amazon SES (the v2 API's `SendEmail`), with one client per process."""
