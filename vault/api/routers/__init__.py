"""One router per resource, thin: parse, call ``vault.service``, render."""
