"""The home page after sign-in: what the user's roles let them do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.console.accounts import SignedIn
from services.console.web import render, signed_in

router = APIRouter()


@router.get("/")
async def home(request: Request, staff: Annotated[SignedIn, Depends(signed_in)]) -> Response:
    return render(request, "home/home.html", staff=staff)
