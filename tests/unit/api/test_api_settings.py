import pytest

from dicompress_api.settings import ApiSettings


def test_defaults() -> None:
    settings = ApiSettings()
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 18000)
    assert settings.api_allowed_buckets == ["dicompress-data"]
    assert (settings.api_default_rate, settings.api_publish_timeout_s) == (100, 10)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("a-bucket, b-bucket", ["a-bucket", "b-bucket"]), ('["c-bucket"]', ["c-bucket"])],
)
def test_allowed_buckets_from_env(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("API_ALLOWED_BUCKETS", raw)
    monkeypatch.setenv("API_PUBLISH_TIMEOUT_S", "2.5")
    settings = ApiSettings()
    assert settings.api_allowed_buckets == expected
    assert settings.api_publish_timeout_s == 2.5


def test_default_rate_must_be_a_valid_rate() -> None:
    with pytest.raises(ValueError, match="api_default_rate"):
        ApiSettings(api_default_rate=1)
