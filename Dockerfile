# One image for web, worker and beat (docker-compose.yml reuses it).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# The build steps live in one script, which CI's production smoke test runs too.
RUN sh deploy/build.sh
RUN useradd --create-home clinic && mkdir -p /app/var && chown clinic /app/var
USER clinic
EXPOSE 8000
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "clinic.wsgi"]
