"""The builder's HTML views (server-rendered, HTMX): one module per page or dialog."""
