"""The API's adapters to the outside world shared by its features: Postgres, S3, Kafka, presigned
URLs.
"""
