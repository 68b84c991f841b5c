"""{{ cookiecutter.project_name }}: {{ cookiecutter.description }}."""

PROJECT_SLUG = "{{ cookiecutter.project_slug }}"
