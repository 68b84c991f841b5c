"""Email through an SMTP server (aiosmtplib), over one connection reused while mail keeps coming."""
