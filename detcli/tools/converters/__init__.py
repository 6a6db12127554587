"""Dataset and weight converters behind ``det convert``: one module per source format."""
