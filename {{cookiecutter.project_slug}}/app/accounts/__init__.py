"""Accounts: sign-up, sign-in (password and OAuth providers), the profile, account mails."""
