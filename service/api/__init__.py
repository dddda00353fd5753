"""The HTTP layer: OpenAI-compatible wire models (`protocol`), the serving logic that turns a request
into engine calls and responses (`serving`), thin routes (`routes`), and the app factory (`app`)."""
