"""한국어: the pages and the account mails. Keys match en.py one for one."""

from __future__ import annotations

from typing import Final

MESSAGES: Final[dict[str, str]] = {
    # Every page
    "language.name": "한국어",
    "language.choose": "언어",
    "page.back_to_signin": "로그인 화면으로 돌아가기",
    "page.working": "잠시만 기다려 주세요…",
    # Sign-in page
    "signin.title": "로그인",
    "signin.heading": "{project} 로그인",
    "signin.provider.google": "Google 계정으로 로그인",
    "signin.provider.kakao": "카카오 로그인",
    "signin.provider.other": "{provider} 계정으로 로그인",
    "signin.provider.not_configured": "{provider} 로그인: 설정 안 됨",
    # The providers' names as their own guidelines write them in this language.
    "provider.google": "Google",
    "provider.kakao": "카카오",
    "signin.or_email": "또는 이메일 주소로 로그인",
    "signin.email": "이메일 주소",
    "signin.password": "비밀번호",
    "signin.password_hint": "새 계정의 비밀번호는 {minimum}자 이상이어야 합니다.",
    "signin.submit": "로그인",
    "signin.register": "계정 만들기",
    "signin.forgot": "비밀번호를 잊으셨나요?",
    # Signed in (the same page)
    "profile.title": "내 계정",
    "profile.signed_in_with": "{providers} 계정으로 로그인했습니다",
    "profile.unverified": "이메일 주소가 아직 확인되지 않았습니다. 보내 드린 메일의 링크를 "
    "열어 주세요.",
    "profile.resend": "확인 메일 다시 보내기",
    "profile.signout": "로그아웃",
    # Verify-email page
    "verify.title": "이메일 주소 확인",
    "verify.intro": "이 이메일 주소가 본인의 것임을 확인하려면 아래 버튼을 눌러 주세요.",
    "verify.submit": "이메일 주소 확인하기",
    "verify.no_token": "이 페이지는 메일의 링크로 열어야 합니다. 메일의 링크를 다시 열어 주세요.",
    # Reset-password page
    "reset.title": "새 비밀번호 정하기",
    "reset.password": "새 비밀번호",
    "reset.hint": "{minimum}자 이상이어야 하며, 흔한 비밀번호는 쓸 수 없습니다.",
    "reset.submit": "새 비밀번호 저장",
    # What the page says after an action (the page's script shows them)
    "status.reset_sent": "{email} 주소의 계정이 있다면 비밀번호 재설정 링크를 메일로 보냈습니다.",
    "status.verify_sent": "{email} 주소로 확인 메일을 다시 보냈습니다.",
    "status.verified": "이메일 주소가 확인되었습니다. 감사합니다!",
    "status.password_changed": "비밀번호가 바뀌었습니다. 새 비밀번호로 로그인해 주세요.",
    # What went wrong, in words (keys after the service's error codes)
    "error.email_required": "먼저 이메일 주소를 입력해 주세요.",
    "error.LOGIN_BAD_CREDENTIALS": "이메일 주소 또는 비밀번호가 올바르지 않습니다.",
    "error.LOGIN_USER_NOT_VERIFIED": "먼저 이메일 주소를 확인해 주세요. 보내 드린 메일의 "
    "링크를 열면 됩니다.",
    "error.ACCOUNT_UNVERIFIED": "먼저 이메일 주소를 확인해 주세요. 보내 드린 메일의 링크를 "
    "열면 됩니다.",
    "error.ACCOUNT_INACTIVE": "사용이 중지된 계정입니다. 서비스 운영팀에 문의해 주세요.",
    "error.REGISTER_USER_ALREADY_EXISTS": "이 이메일 주소로 만든 계정이 이미 있습니다. "
    "로그인해 주세요.",
    "error.REGISTER_INVALID_PASSWORD": "다른 비밀번호를 정해 주세요. {minimum}자 이상이어야 "
    "하며, 흔한 비밀번호는 쓸 수 없습니다.",
    "error.RESET_PASSWORD_INVALID_PASSWORD": "다른 비밀번호를 정해 주세요. {minimum}자 "
    "이상이어야 하며, 흔한 비밀번호는 쓸 수 없습니다.",
    "error.RESET_PASSWORD_BAD_TOKEN": "이 링크는 더 이상 쓸 수 없습니다. “비밀번호를 "
    "잊으셨나요?”에서 새 링크를 받아 주세요.",
    "error.VERIFY_USER_BAD_TOKEN": "이 링크는 더 이상 쓸 수 없습니다. 로그인한 뒤 확인 메일을 "
    "다시 받아 주세요.",
    "error.VERIFY_USER_ALREADY_VERIFIED": "이미 확인된 이메일 주소입니다.",
    "error.VALIDATION_ERROR": "입력한 이메일 주소와 비밀번호를 다시 확인해 주세요.",
    "error.RATE_LIMITED": "짧은 시간에 너무 많이 시도했습니다. 몇 분 뒤에 다시 시도해 주세요.",
    "error.PROVIDER_NOT_CONFIGURED": "이 로그인 방법은 아직 준비되지 않았습니다. 이메일 "
    "주소로 로그인해 주세요.",
    "error.PROVIDER_ERROR": "로그인 서비스가 응답하지 않습니다. 잠시 뒤에 다시 시도하거나 "
    "이메일 주소로 로그인해 주세요.",
    "error.OAUTH_AUTHORIZATION_FAILED": "로그인 서비스에서 로그인이 취소되었습니다. 로그인하려면 "
    "다시 시도해 주세요.",
    "error.OAUTH_INVALID_STATE": "로그인 시간이 너무 오래 걸렸거나 다른 창에서 시작되었습니다. "
    "이 페이지에서 다시 시작해 주세요.",
    "error.OAUTH_CODE_MISSING": "로그인 서비스에서 로그인이 완료되지 않았습니다. 다시 시도해 "
    "주세요.",
    "error.OAUTH_NOT_AVAILABLE_EMAIL": "로그인 서비스가 이메일 주소를 알려 주지 않았습니다. "
    "이메일 제공에 동의한 뒤 다시 시도해 주세요.",
    "error.OAUTH_USER_ALREADY_EXISTS": "이 이메일 주소를 쓰는 다른 계정이 있습니다. 먼저 그 "
    "계정에 비밀번호로 로그인해 주세요.",
    "error.network": "서비스에 연결할 수 없습니다. 인터넷 연결을 확인한 뒤 다시 시도해 주세요.",
    "error.unknown": "문제가 생겼습니다. 잠시 뒤에 다시 시도해 주세요.",
    # Account mails
    "mail.verify.subject": "{project} 이메일 주소를 확인해 주세요",
    "mail.verify.intro": "{project}에 오신 것을 환영합니다! 이 이메일 주소가 본인의 것임을 "
    "확인해 주세요.",
    "mail.verify.action": "이메일 주소 확인하기",
    "mail.verify.expiry": "링크는 {hours}시간 동안 쓸 수 있습니다. 가입한 적이 없다면 이 "
    "메일은 무시해 주세요.",
    "mail.reset.subject": "{project} 비밀번호 재설정",
    "mail.reset.intro": "{project} 계정의 비밀번호 재설정이 요청되었습니다.",
    "mail.reset.action": "새 비밀번호 정하기",
    "mail.reset.expiry": "링크는 {minutes}분 동안 쓸 수 있습니다. 요청한 적이 없다면 이 "
    "메일은 무시해 주세요. 비밀번호는 바뀌지 않습니다.",
    "mail.link_fallback": "버튼이 동작하지 않으면 아래 링크를 복사해 브라우저에 붙여 넣어 주세요:",
    "mail.footer": "{project}에 이 이메일 주소가 입력되어 보내 드리는 메일입니다.",
}
