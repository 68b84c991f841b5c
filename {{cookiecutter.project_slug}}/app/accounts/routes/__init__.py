"""The accounts' HTTP routes: auth, users, OAuth provider steps and the pages people see."""
