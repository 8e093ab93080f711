"""The coach's web page: FastAPI with server-rendered templates (see `gallra web`)."""
