"""Shared plumbing of the dicompress services: settings, logging, Kafka, S3, auth, run loop.

Adapters only; no domain logic lives here.
"""
