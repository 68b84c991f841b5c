"""English: the pages and the account mails. Keys match ko.py one for one."""

from __future__ import annotations

from typing import Final

MESSAGES: Final[dict[str, str]] = {
    # Every page
    "language.name": "English",
    "language.choose": "Language",
    "page.back_to_signin": "Back to sign-in",
    "page.working": "One moment…",
    # Sign-in page
    "signin.title": "Sign in",
    "signin.heading": "Sign in to {project}",
    "signin.provider.google": "Sign in with Google",
    "signin.provider.kakao": "Login with Kakao",
    "signin.provider.other": "Sign in with {provider}",
    "signin.provider.not_configured": "{provider} sign-in: not set up",
    # The providers' names as their own guidelines write them in this language.
    "provider.google": "Google",
    "provider.kakao": "Kakao",
    "signin.or_email": "or with your email address",
    "signin.email": "Email address",
    "signin.password": "Password",
    "signin.password_hint": "A new account needs at least {minimum} characters.",
    "signin.submit": "Sign in",
    "signin.register": "Create account",
    "signin.forgot": "Forgot your password?",
    # Signed in (the same page)
    "profile.title": "Your account",
    "profile.signed_in_with": "Signed in with {providers}",
    "profile.unverified": "Your email address is not confirmed yet: open the link in the "
    "mail we sent you.",
    "profile.resend": "Send the confirmation mail again",
    "profile.signout": "Sign out",
    # Verify-email page
    "verify.title": "Confirm your email address",
    "verify.intro": "Press the button to confirm that this email address is yours.",
    "verify.submit": "Confirm my email address",
    "verify.no_token": "This page works from the link in your mail. Open that link again.",
    # Reset-password page
    "reset.title": "Choose a new password",
    "reset.password": "New password",
    "reset.hint": "At least {minimum} characters, and not a common password.",
    "reset.submit": "Save the new password",
    # What the page says after an action (the page's script shows them)
    "status.reset_sent": "If an account uses {email}, a mail with a reset link is on its way.",
    "status.verify_sent": "A new confirmation mail is on its way to {email}.",
    "status.verified": "Your email address is confirmed. Thank you!",
    "status.password_changed": "Your password is changed: sign in with it.",
    # What went wrong, in words (keys after the service's error codes)
    "error.email_required": "Type your email address first.",
    "error.LOGIN_BAD_CREDENTIALS": "Wrong email address or password.",
    "error.LOGIN_USER_NOT_VERIFIED": "Confirm your email address first: open the link in the "
    "mail we sent you.",
    "error.ACCOUNT_UNVERIFIED": "Confirm your email address first: open the link in the "
    "mail we sent you.",
    "error.ACCOUNT_INACTIVE": "This account is switched off. Contact the service's team.",
    "error.REGISTER_USER_ALREADY_EXISTS": "An account with this email address exists already: "
    "sign in instead.",
    "error.REGISTER_INVALID_PASSWORD": "Choose another password: at least {minimum} "
    "characters, and not a common one.",
    "error.RESET_PASSWORD_INVALID_PASSWORD": "Choose another password: at least {minimum} "
    "characters, and not a common one.",
    "error.RESET_PASSWORD_BAD_TOKEN": "This link does not work any more. Ask for a new one "
    "with “Forgot your password?”.",
    "error.VERIFY_USER_BAD_TOKEN": "This link does not work any more. Sign in and ask for a "
    "new confirmation mail.",
    "error.VERIFY_USER_ALREADY_VERIFIED": "Your email address was confirmed already.",
    "error.VALIDATION_ERROR": "Check the email address and the password you typed.",
    "error.RATE_LIMITED": "Too many tries in a short time. Wait a few minutes, then try again.",
    "error.PROVIDER_NOT_CONFIGURED": "This way of signing in is not set up yet. Use your email "
    "address instead.",
    "error.PROVIDER_ERROR": "The sign-in service did not answer. Try again in a moment, or "
    "use your email address.",
    "error.OAUTH_AUTHORIZATION_FAILED": "Signing in was cancelled at the sign-in service. "
    "Try again if you meant to sign in.",
    "error.OAUTH_INVALID_STATE": "This sign-in took too long or was started in another "
    "window. Start again from this page.",
    "error.OAUTH_CODE_MISSING": "The sign-in service sent you back without signing you in. "
    "Try again.",
    "error.OAUTH_NOT_AVAILABLE_EMAIL": "The sign-in service did not share your email "
    "address. Allow it, then try again.",
    "error.OAUTH_USER_ALREADY_EXISTS": "Another account uses this email address: sign in to "
    "it with your password first.",
    "error.network": "The service could not be reached. Check your connection and try again.",
    "error.unknown": "Something went wrong on our side. Try again in a moment.",
    # Account mails
    "mail.verify.subject": "Confirm your email address for {project}",
    "mail.verify.intro": "Welcome to {project}! Confirm that this email address is yours.",
    "mail.verify.action": "Confirm my email address",
    "mail.verify.expiry": "The link works for {hours} hours. If you did not sign up, ignore "
    "this mail.",
    "mail.reset.subject": "Reset your {project} password",
    "mail.reset.intro": "Someone asked to reset the password of your {project} account.",
    "mail.reset.action": "Choose a new password",
    "mail.reset.expiry": "The link works for {minutes} minutes. If it was not you, ignore "
    "this mail: your password stays as it is.",
    "mail.link_fallback": "If the button does not work, copy this link into your browser:",
    "mail.footer": "{project} sent this mail because this address was entered there.",
}
