"""Code both sides import: configuration helpers, the event schema and publisher, models."""
