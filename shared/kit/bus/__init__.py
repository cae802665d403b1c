"""The one way carenet talks over NATS: broker, streams, outbox relay, consumers, commands."""
