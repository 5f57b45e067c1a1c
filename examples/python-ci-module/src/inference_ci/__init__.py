"""CI for a small Python inference API: lint, test (with PostgreSQL when given), build and publish

The API lives in api/ beside this module (a fixed logistic model behind
http.server). Each function takes that directory by default (--source to
pass another one) and runs in python:3.14-slim with a pip cache volume.
"""

from .main import InferenceCi as InferenceCi
