from services.reporting.app import build
from shared.service import main

main("reporting", build)
