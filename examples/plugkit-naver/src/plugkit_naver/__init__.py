"""Sign in with Naver: a plugin package for a service made from the plugkit template.

Installed beside the service, it is found through the entry point group
`<project_slug>.plugins` and adds `/api/v1/auth/naver/...`; the profile comes from
Naver's member profile API (`/v1/nid/me`).
"""
