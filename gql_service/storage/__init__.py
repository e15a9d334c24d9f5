"""All MongoDB code lives here; no other layer builds a query."""
