"""SDK documents: the message (messagePayload), the XHE envelope and the Meddelandekvittens."""
