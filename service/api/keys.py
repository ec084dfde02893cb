from __future__ import annotations

from fastapi import APIRouter

from decisions import keys, store
from service.deps import AdminKey, SessionDep
from service.schemas import AUTH_ERRORS, BODY_ERRORS, ErrorBody, KeyIn, KeyOut, NewKey

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=AUTH_ERRORS)


@router.post("", response_model=NewKey, status_code=201, responses={409: {"model": ErrorBody}, **BODY_ERRORS})
def create_key(body: KeyIn, session: SessionDep, caller: AdminKey) -> NewKey:
    """Create an API key (admin); the key is in this response only, kept as a hash."""
    key = keys.create(session, body.name, body.role, caller.name)
    session.commit()
    row = store.api_key_named(session, body.name.strip())
    return NewKey.model_validate({**KeyOut.model_validate(row).model_dump(), "key": key})


@router.get("", response_model=list[KeyOut])
def list_keys(session: SessionDep, caller: AdminKey) -> list[KeyOut]:
    """Every key, revoked ones included (admin); never the keys themselves."""
    return [KeyOut.model_validate(row) for row in store.api_keys(session)]


@router.delete("/{name}", response_model=KeyOut, responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
def revoke_key(name: str, session: SessionDep, caller: AdminKey) -> KeyOut:
    """Revoke a key (admin): refused from the next request on (within the key cache's seconds), and its desk
    sessions end at once. The last admin key cannot be revoked (409): create another first."""
    keys.revoke(session, name, caller.name)
    session.commit()
    return KeyOut.model_validate(store.api_key_named(session, name))
