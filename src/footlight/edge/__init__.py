"""The HTTP edge: routing, CORS, bounded body reads and the GraphQL-over-HTTP rules."""
