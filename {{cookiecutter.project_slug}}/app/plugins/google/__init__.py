"""Sign in with Google; the profile (photo, birthday, gender, phone) comes from the People API."""
