from services.reporting.app import build
from shared.kit.service import main

main("reporting", build)
