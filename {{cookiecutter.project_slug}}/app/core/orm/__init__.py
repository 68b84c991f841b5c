"""The declarative base and the async CRUD mixin every table derives from."""
