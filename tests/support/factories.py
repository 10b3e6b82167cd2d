"""Factories for directory rows, for tests that need a row or two rather than the demo directory.

Rows go into the test's session (`get_session()`) and are flushed, not committed: commit where
the test needs them seen by another session. Organisations and functional addresses are
reused by their key, so two units of one organisation share its row.

    CareUnitFactory()                          a connected VC with its functional address
    CareUnitFactory(with_deputy=True)          ... covered by a primary REKO and a deputy
    CareUnitFactory(not_connected=True)        known, outside the model: a contact, no address
    AssignmentFactory(care_unit=unit, coordinator__absent=True)   a primary REKO away today
    SenderUnitFactory(ama=True)                Arbetsmarknadsavdelningen instead of EBB
"""

from __future__ import annotations

import datetime as dt

import factory

from gateway.db import get_session
from gateway.directory.models import (
    Absence,
    Assignment,
    AssignmentRole,
    CareUnit,
    Coordinator,
    FunctionalAddress,
    Organisation,
    SenderKind,
    SenderUnit,
)
from gateway.directory.service import stockholm_today

MALMO = ("0203:malmo.se", "Malmö stad")
SKANE = ("0203:skane.se", "Region Skåne")


class _Factory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = get_session
        sqlalchemy_session_persistence = "flush"


class OrganisationFactory(_Factory):
    class Meta:
        model = Organisation
        sqlalchemy_get_or_create = ("id",)

    id = SKANE[0]
    name = SKANE[1]


class FunctionalAddressFactory(_Factory):
    class Meta:
        model = FunctionalAddress
        sqlalchemy_get_or_create = ("address",)

    organisation = factory.SubFactory(OrganisationFactory)
    address = factory.LazyAttributeSequence(
        lambda o, n: f"sdk:funktion-{n}:{o.organisation.id}"
    )


class CareUnitFactory(_Factory):
    class Meta:
        model = CareUnit

    class Params:
        not_connected = factory.Trait(
            connected=False, functional_address=None, manager_email=None,
            contact="Telefon 040-00 00 90, Exempelvägen 1, Malmö",
        )
        with_reko = factory.Trait(
            primary=factory.RelatedFactory("tests.support.factories.AssignmentFactory",
                                           factory_related_name="care_unit"),
        )
        with_deputy = factory.Trait(
            with_reko=True,
            deputy=factory.RelatedFactory("tests.support.factories.AssignmentFactory",
                                          factory_related_name="care_unit", deputy=True),
        )

    hsa_id = factory.Sequence(lambda n: f"SE2321000255-F{n:03d}")
    name = factory.Sequence(lambda n: f"Vårdcentralen Prov {n}")
    organisation = factory.SubFactory(OrganisationFactory)
    connected = True
    functional_address = factory.SubFactory(
        FunctionalAddressFactory, organisation=factory.SelfAttribute("..organisation"),
        address=factory.LazyAttribute(lambda o: f"sdk:reko-{o.factory_parent.hsa_id.lower()}:"
                                                f"{o.organisation.id}"),
    )
    manager_email = factory.LazyAttribute(lambda o: f"chef.{o.hsa_id.lower()}@example.org")


class CoordinatorFactory(_Factory):
    class Meta:
        model = Coordinator

    class Params:
        # Away from yesterday to a week from today: deputies cover the units.
        absent = factory.Trait(
            absence=factory.RelatedFactory("tests.support.factories.AbsenceFactory",
                                           factory_related_name="coordinator"),
        )

    hsa_id = factory.Sequence(lambda n: f"SE2321000255-C{n:03d}")
    name = factory.Sequence(lambda n: f"Rehab Koordinator {n}")
    email = factory.LazyAttribute(lambda o: f"{o.hsa_id.lower()}@example.org")


class AssignmentFactory(_Factory):
    class Meta:
        model = Assignment

    class Params:
        deputy = factory.Trait(role=AssignmentRole.DEPUTY)

    coordinator = factory.SubFactory(CoordinatorFactory)
    care_unit = factory.SubFactory(CareUnitFactory)
    role = AssignmentRole.PRIMARY
    valid_from = dt.date(2024, 9, 1)
    valid_to = None


class AbsenceFactory(_Factory):
    class Meta:
        model = Absence

    coordinator = factory.SubFactory(CoordinatorFactory)
    starts_on = factory.LazyFunction(lambda: stockholm_today() - dt.timedelta(days=1))
    ends_on = factory.LazyFunction(lambda: stockholm_today() + dt.timedelta(days=7))
    note = "Semester"


def _address_of(address: str) -> factory.SubFactory:
    """The functional address `address` of the unit's organisation."""
    return factory.SubFactory(FunctionalAddressFactory, address=address,
                              organisation=factory.SelfAttribute("..organisation"))


class SenderUnitFactory(_Factory):
    class Meta:
        model = SenderUnit

    class Params:
        ama = factory.Trait(
            kind=SenderKind.ARBETSMARKNAD, name="Arbetsmarknadsavdelningen",
            functional_address=_address_of("sdk:ama:0203:malmo.se"),
        )

    name = "EBB Öster"
    organisation = factory.SubFactory(OrganisationFactory, id=MALMO[0], name=MALMO[1])
    kind = SenderKind.SOCIALTJANST
    functional_address = _address_of("sdk:ebb-oster:0203:malmo.se")
