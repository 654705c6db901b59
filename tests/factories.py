"""factory_boy factories shared by the tests."""

import factory

from curation.models import Job, Membership, Project, Role, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.LazyAttribute(lambda o: o.username.title())

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    kind = "demo.generate"
    project = factory.SubFactory(ProjectFactory)
    params = factory.LazyFunction(lambda: {"patients": 2, "seed": 1, "image_size": 64})


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "curation.Patient"

    project = factory.SubFactory(ProjectFactory)
    pseudo_id = factory.Sequence(lambda n: f"P{n:06d}")
    sex = "F"


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "curation.Study"

    patient = factory.SubFactory(PatientFactory)
    project = factory.LazyAttribute(lambda o: o.patient.project)
    dataset = "dicom"
    study_key = factory.Sequence(lambda n: f"2.25.{1000 + n}")
    age_years = 60
    sex = "F"
    image_count = 1


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "curation.Image"

    study = factory.SubFactory(StudyFactory)
    project = factory.LazyAttribute(lambda o: o.study.project)
    image_key = factory.Sequence(lambda n: f"2.25.{900000 + n}")
    view_position = "PA"
    modality = "CR"
