"""The engine's side of the webhook protocol: event payloads, policies, breakers, and the HTTP client."""
