"""Runners: one assistant turn from a model, over HTTP (`openai_http`) or from a checkpoint (`local`)."""
