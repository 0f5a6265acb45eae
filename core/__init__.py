"""The loyalty domain and its services. Knows nothing about any messenger."""
