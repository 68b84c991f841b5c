"""KakaoTalk messages through Kakao's "send to me" memo API, with each recipient's own Kakao token.

A recipient is a user of this service who signed in with Kakao and agreed to `talk_message`,
named as `user:<id>` (the user's id here) or by the user's email address.
"""
