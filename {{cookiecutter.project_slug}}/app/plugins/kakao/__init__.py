"""Sign in with Kakao; the profile comes from Kakao's user API (`/v2/user/me`)."""
