from services.intake.app import build
from shared.service import main

main("intake", build)
