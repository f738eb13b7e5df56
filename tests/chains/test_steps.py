"""Steps refuse what would break the engine later: no reason, bad channels, bad templates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from kasatka.chains.actions import AlreadyEnrolled, enroll
from kasatka.chains.models import Chain, ChainKind, Step
from tests import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(shop):
    return Chain.objects.create(business=shop, name="Прогрев", kind=ChainKind.WARMING)


def step(chain, **overrides) -> Step:
    fields = {"position": 1, "channels": ["email"], "reason": "Новая коллекция",
              "subject_template": "Новинки", "body_template": "{{ contact.greeting }}!"}
    fields.update(overrides)
    return Step(chain=chain, **fields)


def test_a_step_with_a_good_template_is_saved(chain):
    step(chain).save()
    assert chain.steps.count() == 1


@pytest.mark.parametrize(
    ("field", "template", "words"),
    [
        ("body_template", "{{ contact.greeting ", "line 1"),
        ("body_template", "Привет,\n{{ contact.fist_name }}", "contact.fist_name"),
        ("subject_template", "{{ client.name }}", "client"),
        ("body_template", "{{ contact.__class__ }}", "__class__"),
    ],
)
def test_a_broken_template_is_refused_when_the_step_is_saved(chain, field, template, words):
    with pytest.raises(ValidationError) as caught:
        step(chain, **{field: template}).save()
    assert field in caught.value.message_dict
    assert words in caught.value.message_dict[field][0]
    assert chain.steps.count() == 0


def test_a_step_without_a_reason_is_refused(chain):
    with pytest.raises(ValidationError) as caught:
        step(chain, reason="   ").save()
    assert "reason" in caught.value.message_dict


@pytest.mark.parametrize("channels", [[], ["pigeon"], ["email", "email"], "email"])
def test_a_step_needs_known_channels(chain, channels):
    with pytest.raises(ValidationError) as caught:
        step(chain, channels=channels).save()
    assert "channels" in caught.value.message_dict


def test_a_contact_is_never_in_one_chain_twice_at_once(shop, clock):
    c = builders.chain(shop)
    anna = builders.contact(shop)
    enroll(anna, c)
    with pytest.raises(AlreadyEnrolled):
        enroll(anna, c)
    assert anna.enrollments.count() == 1


def test_a_step_counted_from_enrollment_is_due_from_the_enrollment(shop, clock):
    c = builders.chain(shop, steps=[{"delay": timedelta(days=1), "delay_from": "enrollment"}])
    e = enroll(builders.contact(shop), c)
    assert e.next_touch_at == clock.now() + timedelta(days=1)
