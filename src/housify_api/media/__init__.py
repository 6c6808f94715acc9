"""Images, generation jobs, ratings and the gallery (the product a user sees)."""
