# One image for web and workers.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# python-ldap (LDAP sign-in) builds from source: compilers and headers for the install, then only the
# OpenLDAP and SASL run-time libraries stay in the image.
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 libldap-2.5-0 libsasl2-2 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt constraints.txt ./
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libldap2-dev libsasl2-dev \
    && pip install -r requirements.txt -c constraints.txt \
    && apt-get purge -y gcc libc6-dev libldap2-dev libsasl2-dev && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput
RUN useradd --create-home app && mkdir -p /app/var && chown -R app /app/var
USER app
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
