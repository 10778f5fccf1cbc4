# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A local oVirt engine: the v4 REST API and SSO calls of the oVirt backend, over HTTPS, for the real ovirtsdk4.

No engine can run on a test machine, so the oVirt backend is tested against this server. Every behaviour it
imitates was read in the engine's source, and the comments cite file and lines:

- E: oVirt/ovirt-engine @ 0111fc63036bca662aa6275a8ad16282cccf86bf, with ``bll/`` for
  backend/manager/modules/bll/src/main/java/org/ovirt/engine/core/bll/, ``common/`` for
  backend/manager/modules/common/src/main/java/org/ovirt/engine/core/common/, ``rest/`` for
  backend/manager/modules/restapi/jaxrs/src/main/java/org/ovirt/engine/api/restapi/, ``types/`` for
  backend/manager/modules/restapi/types/src/main/java/org/ovirt/engine/api/restapi/types/, ``api/`` for
  backend/manager/modules/restapi/interface/definition/src/main/java/org/ovirt/engine/api/, ``sso/`` for
  backend/manager/modules/enginesso/src/main/java/org/ovirt/engine/core/sso/, ``vdsbroker/`` for
  backend/manager/modules/vdsbroker/src/main/java/org/ovirt/engine/core/vdsbroker/, AppErrors for
  frontend/webadmin/modules/frontend/src/main/resources/org/ovirt/engine/ui/frontend/AppErrors.properties,
  the message bundle the backend loads (backend/manager/modules/dal/pom.xml L137-150 copies it), and
  Messages.properties for the REST layer's own bundle,
  backend/manager/modules/restapi/jaxrs/src/main/resources/org/ovirt/engine/api/restapi/logging/Messages.properties.
- M: oVirt/ovirt-engine-api-model @ 4fb1a80443f14a654d9bcd8e4ef58570f6736ce7.
- MM: oVirt/ovirt-engine-api-metamodel @ 5aee434690abfe58125e9cf78418a8608417b5c2, which generates the engine's enums.

It answers: SSO password login and logout; the API root; the VM list with a name search; GET and PUT of one VM
with its payload; the start, shutdown and stop actions and the statuses a VM passes through. Anything else
answers 404 with an empty body, as the engine does for a path it does not know.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import http.server
import json
import os
import re
import secrets
import socket
import ssl
import sys
import threading
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

API_PATH = '/ovirt-engine/api'
SSO_TOKEN_PATH = '/ovirt-engine/sso/oauth/token'
SSO_LOGOUT_PATH = '/ovirt-engine/services/sso-logout'

# The action groups the fake checks, as the predefined user roles grant them on a VM
# (packaging/dbscripts/data/00700_insert_roles_groups.sql; common/action/ActionType.java L17-24 names the
# group each command needs). Users with an administrator role are given all of them.
USER_VM_MANAGER = frozenset({'EDIT_VM_PROPERTIES', 'RUN_VM', 'SHUT_DOWN_VM', 'STOP_VM'})
USER_ROLE = frozenset({'RUN_VM', 'SHUT_DOWN_VM', 'STOP_VM'})

# Engine status -> (the REST status word, the words messages use). REST: types/VmMapper.java L773-809
# (MigratingFrom and MigratingTo are both "migrating"; ImageIllegal maps to nothing, so no <status> is sent).
# Words: bll/validator/LocalizedVmStatus.java L13-32 and AppErrors L1399-1414.
VM_STATUSES = {
    'unassigned': ('unassigned', 'Unassigned'),
    'down': ('down', 'Down'),
    'up': ('up', 'Up'),
    'powering_up': ('powering_up', 'Powering Up'),
    'paused': ('paused', 'Paused'),
    'migrating_from': ('migrating', 'Migrating'),
    'migrating_to': ('migrating', 'Migrating'),
    'unknown': ('unknown', 'Unknown'),
    'not_responding': ('not_responding', 'Not Responding'),
    'wait_for_launch': ('wait_for_launch', 'Wait for Launch'),
    'reboot_in_progress': ('reboot_in_progress', 'Reboot in Progress'),
    'saving_state': ('saving_state', 'Saving State'),
    'restoring_state': ('restoring_state', 'Restoring State'),
    'suspended': ('suspended', 'Suspended'),
    'image_illegal': (None, 'Image Illegal'),
    'image_locked': ('image_locked', 'Image Locked'),
    'powering_down': ('powering_down', 'Powering Down'),
}
# common/businessentities/VMStatus.java L53-55 isNotRunning() and L126-129 isRunning().
NOT_RUNNING_STATUSES = frozenset({'down', 'suspended', 'image_locked', 'image_illegal'})
RUNNING_STATUSES = frozenset({'up', 'powering_down', 'powering_up', 'migrating_from', 'migrating_to',
                              'wait_for_launch', 'reboot_in_progress'})
# The statuses whose entry in the action matrix lists RunVm, i.e. forbids it (common/ActionUtils.java L154-307).
START_FORBIDDEN_STATUSES = frozenset({'wait_for_launch', 'up', 'powering_down', 'powering_up', 'reboot_in_progress',
                                      'migrating_from', 'saving_state', 'restoring_state', 'image_illegal',
                                      'image_locked', 'not_responding', 'unassigned', 'unknown'})
# bll/StopVmCommandBase.java L84-90: stop and shutdown need a running, paused, not responding or suspended VM.
STOPPABLE_STATUSES = RUNNING_STATUSES | {'paused', 'not_responding', 'suspended'}

BACKEND_FAILED = 'Operation Failed'  # Messages.properties L2, the reason of every backend fault
# The engine's messages, from AppErrors with ${action} and ${type} filled in (VAR__ACTION__* L1252-1265,
# VAR__TYPE__VM L1388).
NOT_AUTHORIZED = 'User is not authorized to perform this action.'  # AppErrors L1121, NO_PERMISSION: 403
VM_NOT_FOUND = 'Cannot %s VM. VM is not found.'  # AppErrors L677, BAD_PARAMETERS: 400
VM_LOCKED = 'Cannot run VM: VM is locked. Please try again in a few minutes.'  # AppErrors L666, CONFLICT
VM_STATUS_ILLEGAL = 'Cannot run VM because the VM is in %s status.'  # AppErrors L695, CONFLICT
VM_IS_RUNNING = 'Cannot run VM. VM is running.'  # AppErrors L674, CONFLICT
VM_NOT_RUNNING = 'Cannot %s VM. VM is not running.'  # AppErrors L671, CONFLICT
VM_SAVING_RESTORING = ('Cannot %s VM. VM is in saving/restoring state.\n'
                       '-Please try again when the VM is either up or down.')  # AppErrors L675, CONFLICT
PAYLOAD_SIZE_EXCEEDED = 'Payload is limited to %dK'  # AppErrors L1607, CONSTRAINT_VIOLATION: 400
VOLUME_ID_SPECIAL_CHARS = ("Cannot edit VM. Volume ID may not contain special characters. Only lower-case and "
                           "upper-case letters, numbers, '_', '-', '.' are allowed.")  # AppErrors L1723, 400
# The @Size on VmPayload.volumeId has no message of its own: Hibernate Validator's default text is used, and the
# violation's path follows as ACTION_TYPE_FAILED_ATTRIBUTE_PATH (AppErrors L30; common/utils/ValidationUtils.java
# L128-148). The default text and the "payload.volumeId" path are inferred, not read.
VOLUME_ID_TOO_LONG = 'size must be between 0 and %d'
VOLUME_ID_ATTRIBUTE = 'Attribute: payload.volumeId'
VOLUME_ID_MAX_UNITS = 32  # common/businessentities/BusinessEntitiesDefinitions.java L18
# Messages.properties L21, answered by rest/resource/BackendVmResource.java L505-509.
MIXED_INITIALIZATION = 'Cannot use multiple initialization tags simultaneously when running VM.'
# bll/QueriesCommandBase.java L116, lowercased by the translator because it is no AppErrors key
# (backend/manager/modules/utils/src/main/java/org/ovirt/engine/core/utils/ErrorTranslatorImpl.java L136-153).
QUERY_NOT_PERMITTED = 'query execution failed due to insufficient permissions.'

# rest/util/ParametersHelper.java L34-35: the booleans a query parameter or header may spell.
TRUE_PARAMETER = re.compile(r'^(t(rue)?|y(es)?|1)$', re.IGNORECASE)
FALSE_PARAMETER = re.compile(r'^(f(alse)?|n(o)?|0)$', re.IGNORECASE)
NAME_SEARCH = re.compile(r'^\s*name\s*=\s*(?:"(?P<quoted>[^"]*)"|(?P<plain>[^\s"]+))\s*$')
HOST_ID = 'c0ffee00-0000-4000-8000-000000000001'
# The body of the engine's sendError(401) (EnforceAuthFilter, see FakeEngine._route): Undertow's default error
# page, inferred, since the engine's source does not contain it.
UNAUTHORIZED_PAGE = b'<html><head><title>Error</title></head><body>Unauthorized</body></html>'
SSO_TOKEN_LIFETIME = datetime.timedelta(hours=10)


@dataclasses.dataclass
class UserAccount:
    """A user the SSO knows.

    ``admin``: the user holds a role of the administrator type on some object, whichever
    (bll/MultiLevelAdministrationHandler.java L49-63, packaging/dbscripts/multi_level_administration_sp.sql L381-397).
    """

    password: str
    admin: bool = False
    # Action groups this user holds on every VM (see USER_VM_MANAGER, USER_ROLE).
    action_groups: frozenset = frozenset()


@dataclasses.dataclass
class Payload:
    """A VM's payload as the engine stores it: one device with a volume id and text files."""

    type: str = 'cdrom'
    volume_id: str | None = None
    files: list = dataclasses.field(default_factory=list)  # [(name, content), ...]


@dataclasses.dataclass
class Boot:
    """One start of a VM: what VDSM was given to build the payload image, and the initialization asked for."""

    payload: Payload | None
    initialization: str | None = None  # 'sysprep', 'cloud_init' or 'ignition' when the start asked for one


@dataclasses.dataclass
class VmState:
    """The live state of one VM; tests read it and may change it."""

    id: str
    name: str
    status: str = 'down'
    payload: Payload | None = None
    next_run_configuration_exists: bool = False
    boots: list = dataclasses.field(default_factory=list)
    # The guest ignores ACPI: a shutdown leaves it up.
    ignores_shutdown: bool = False
    # GETs of this VM still to come before its current transition (starting or powering down) ends.
    steps_left: int = 0


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    headers: dict
    body: str


@dataclasses.dataclass
class _Session:
    username: str
    # DbUser.isAdmin, fixed when the first API request with the token creates the engine session
    # (bll/aaa/CreateUserSessionCommand.java L120-123): it decides the Filter default and unfiltered queries.
    admin: bool | None = None


@dataclasses.dataclass
class _Interference:
    """A test's instruction for the next ``times`` requests that match: answer with a fault, or answer late."""

    method: str
    path_pattern: re.Pattern
    times: int
    status: int = 0
    detail: str | None = None
    seconds: float = 0.0

    def matches(self, method, path):
        return self.method == method and self.path_pattern.search(path) is not None


@dataclasses.dataclass
class _Reply:
    status: int
    body: bytes = b''
    content_type: str | None = None
    headers: tuple = ()


class EngineFault(Exception):
    """A refusal the engine answers with ``<fault>``; a None reason means an empty body, as for unknown VMs."""

    def __init__(self, status, detail=None, reason=BACKEND_FAILED):
        super().__init__(detail or reason)
        self.status = status
        self.detail = detail
        self.reason = reason

    def reply(self):
        if self.reason is None:
            return _Reply(self.status)
        fault = ET.Element('fault')
        _add_text(fault, 'reason', self.reason)
        if self.detail is not None:
            _add_text(fault, 'detail', self.detail)
        return _xml_reply(self.status, fault)


def _messages(*messages):
    """A backend failure's detail: the translated messages as Java's List.toString() writes them.

    rest/resource/BaseBackendResource.java L328-334 and L234-241 (detail of the WebFaultException).
    """
    return '[%s]' % ', '.join(messages)


def _not_found():
    # rest/resource/BaseBackendResource.java L235-236: an unknown entity is a 404 without a body.
    return EngineFault(404, reason=None)


def _invalid_value(detail):
    # rest/xml/JAXBProvider.java L163-182 passes the parser's InvalidValueException on inside an IOException;
    # rest/resource/validation/IOExceptionMapper.java L38-45 answers 400 with reason "Invalid value".
    return EngineFault(400, detail, reason='Invalid value')


def _add_text(parent, tag, text):
    ET.SubElement(parent, tag).text = text


def _xml_reply(status, element):
    body = ET.tostring(element, encoding='unicode')
    return _Reply(status, ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + body).encode('utf-8'),
                  'application/xml')


def _json_reply(status, document):
    return _Reply(status, json.dumps(document).encode('utf-8'), 'application/json')


def _xml_boolean(value):
    return 'true' if value else 'false'


def _utf16_units(text):
    """Java's String.length(): UTF-16 code units."""
    return len(text.encode('utf-16-le')) // 2


def _boolean_parameter(text, empty):
    """rest/util/ParametersHelper.java L136-155: a bare parameter means ``empty``; a bad value counts as missing."""
    if text is None:
        return None
    if text == '':
        return empty
    if FALSE_PARAMETER.match(text):
        return False
    if TRUE_PARAMETER.match(text):
        return True
    return None


def _parse_xml(body, root_tag):
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        # The engine answers a usage description here (IOExceptionMapper.java L48-57); the fake says what failed.
        raise EngineFault(400, _messages('the request body is not well-formed XML: %s' % exc)) from None
    if root.tag != root_tag:
        raise EngineFault(400, _messages('expected a <%s> document, got <%s>' % (root_tag, root.tag)))
    return root


def _xml_flag(element, tag):
    """An xs:boolean element: api/utils/BooleanParser.java L9-18 accepts true, false, 0 and 1 only."""
    text = element.findtext(tag)
    if text is None:
        return None
    if text.lower() == 'true' or text == '1':
        return True
    if text.lower() == 'false' or text == '0':
        return False
    raise _invalid_value('Value "%s" isn\'t a valid boolean, it should be "true" , "false", "0" or "1"' % text)


def _device_type(text):
    """MM tool/.../EnumGeneratorJaxb.java L124-155: valueOf(text.toUpperCase()), else InvalidEnumValueException.

    The REST enum has only FLOPPY and CDROM (M src/main/java/types/VmDeviceType.java L26-29), so the backend's
    VMPAYLOAD_INVALID_PAYLOAD_TYPE (409, bll/VmCommand.java L430-432) cannot be reached through the v4 API.
    """
    if text.upper() in ('FLOPPY', 'CDROM'):
        return text.lower()
    raise _invalid_value("The string '%s' isn't a valid value for the 'VmDeviceType' enumerated type. "
                         "Valid values are: 'floppy', 'cdrom'." % text)


def _parse_payload(element):
    """types/VmMapper.java L1041-1054: the files go into a map, so a repeated name keeps the last content."""
    type_element = element.find('type')
    # Without <type> the engine's default stands: VmPayload() sets CDROM
    # (common/businessentities/VmPayload.java L30-35).
    kind = 'cdrom' if type_element is None else _device_type(type_element.text or '')
    volume_element = element.find('volume_id')
    files = {}
    for file_element in element.findall('files/file'):
        files[file_element.findtext('name', '')] = file_element.findtext('content', '')
    return Payload(type=kind, volume_id=None if volume_element is None else volume_element.text or '',
                   files=list(files.items()))


def _parse_vm_update(body):
    """(whether the PUT touches the payload, the payload it asks for or None to clear it).

    rest/resource/BackendVmResource.java L697-703: no <payloads> leaves the payload alone, an empty <payloads/>
    clears it; rest/resource/BackendVmsResource.java L370-376: only the first <payload> counts.
    """
    payloads = _parse_xml(body, 'vm').find('payloads')
    if payloads is None:
        return False, None
    first = payloads.find('payload')
    return True, None if first is None else _parse_payload(first)


def _payloads_element(payload):
    """types/VmMapper.java L1016-1038: type, volume_id, and files only when there are some."""
    payloads = ET.Element('payloads')
    item = ET.SubElement(payloads, 'payload')
    _add_text(item, 'type', payload.type)
    if payload.volume_id is not None:
        _add_text(item, 'volume_id', payload.volume_id)
    if payload.files:
        files = ET.SubElement(item, 'files')
        for name, content in payload.files:
            file_element = ET.SubElement(files, 'file')
            _add_text(file_element, 'name', name)
            _add_text(file_element, 'content', content)
    return payloads


def _take(interferences, method, path):
    """The first instruction matching this request, counted as used once."""
    for interference in interferences:
        if interference.matches(method, path):
            interference.times -= 1
            if interference.times <= 0:
                interferences.remove(interference)
            return interference
    return None


def _write_pki(workdir):
    """A throwaway CA (written as ca.pem) and a certificate for localhost signed by it; the server's file paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    valid_from, valid_to = now - datetime.timedelta(days=1), now + datetime.timedelta(days=7)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'vmpayload.core test engine CA')])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(valid_from).not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'localhost')]))
        .issuer_name(ca_name).public_key(server_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(valid_from).not_valid_after(valid_to)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName('localhost')]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {name: os.path.join(workdir, name) for name in ('ca.pem', 'localhost.pem', 'localhost-key.pem')}
    with open(paths['ca.pem'], 'wb') as stream:
        stream.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(paths['localhost.pem'], 'wb') as stream:
        stream.write(server_cert.public_bytes(serialization.Encoding.PEM))
    with open(paths['localhost-key.pem'], 'wb') as stream:
        stream.write(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return paths


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1: pycurl keeps its connection open between requests.
    protocol_version = 'HTTP/1.1'
    # An idle kept-alive connection is dropped after this many seconds.
    timeout = 30
    # The headers and the body go out in two writes: with Nagle's algorithm the second waits for the client's
    # delayed ACK, 40 ms a request.
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        # The TLS handshake runs here, in this connection's thread and under its timeout, not in the accepting one.
        self.request.do_handshake()
        self.server.track(self.request)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.untrack(self.request)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Silent: the engine's request log is FakeEngine.requests."""

    def _answer(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length > 0 else b''
        reply = self.server.engine.handle(self.command, self.path, self.headers, body)
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header('Content-Type', reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer


class _HttpsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, engine, tls):
        super().__init__(('127.0.0.1', 0), _RequestHandler)
        self.engine = engine
        self.tls = tls
        self.connections = set()
        self.connections_lock = threading.Lock()

    def get_request(self):
        connection, address = self.socket.accept()
        return self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), address

    def track(self, connection):
        with self.connections_lock:
            self.connections.add(connection)

    def untrack(self, connection):
        with self.connections_lock:
            self.connections.discard(connection)

    def drop_connections(self):
        """Cut the kept-alive connections, so that a closed engine answers nothing more."""
        with self.connections_lock:
            connections, self.connections = self.connections, set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client had gone already

    def handle_error(self, request, client_address):
        # A client that hangs up (a timed-out SDK call, a closed connection) is part of the tests; anything
        # else is a bug in the fake and is reported as usual.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FakeEngine:
    """An oVirt engine on 127.0.0.1 over HTTPS, for the real ovirtsdk4.

    ``FakeEngine(workdir)`` writes ``ca.pem`` into workdir and starts serving at once; use it as a context manager
    or call ``close()``. Tests add VMs with ``add_vm()``, read and change them with ``vm()``, make requests fail
    or hang with ``fail()`` and ``hang()``, and read what the client sent in ``requests``.
    """

    def __init__(self, workdir):
        self.users = {
            'admin@internal': UserAccount(password='engine-admin-pw', admin=True),
            'viewer@internal': UserAccount(password='viewer-pw', admin=False),
        }
        # ConfigValues.PayloadSize, 8192 by default (packaging/dbscripts/upgrade/pre_upgrade/0000_config.sql L386).
        self.payload_size = 8192
        # GETs of a VM until a start reaches up, and until a shutdown reaches down.
        self.steps_to_up = 2
        self.steps_to_down = 1
        # ENGINE_API_FILTER_BY_DEFAULT, "true" as shipped (packaging/services/ovirt-engine/ovirt-engine.conf.in
        # L555; rest/LocalConfig.java L91-93): whether a non-admin's requests are filtered when they do not say.
        self.filter_by_default = True
        self.requests = []
        self._vms = {}
        self._sessions = {}
        self._failures = []
        self._hangs = []
        self._lock = threading.RLock()
        self._closing = threading.Event()
        pki = _write_pki(os.fspath(workdir))
        self._ca_file = pki['ca.pem']
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(pki['localhost.pem'], pki['localhost-key.pem'])
        self._server = _HttpsServer(self, tls)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.01},
                                        name='fake-ovirt-engine', daemon=True)
        self._thread.start()

    # -- life -----------------------------------------------------------------------------------

    @property
    def url(self):
        return 'https://localhost:%d%s' % (self.port, API_PATH)

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def ca_file(self):
        return self._ca_file

    def close(self):
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- what tests set up and read -----------------------------------------------------------

    def add_vm(self, name, status='down', payload=None, next_run=False):
        """A new VM; its id (a uuid4 string)."""
        if status not in VM_STATUSES:
            raise ValueError('unknown VM status %r; the engine has %s' % (status, ', '.join(VM_STATUSES)))
        vm_id = str(uuid.uuid4())
        with self._lock:
            self._vms[vm_id] = VmState(id=vm_id, name=name, status=status, payload=copy.deepcopy(payload),
                                       next_run_configuration_exists=next_run)
        return vm_id

    def vm(self, vm_id):
        """The live state of a VM."""
        with self._lock:
            return self._vms[vm_id]

    def fail(self, method, path_pattern, status, detail, times=1):
        """The next ``times`` requests whose path matches (re.search) get this fault instead of an answer.

        The body is ``<fault><reason>Operation Failed</reason><detail>detail</detail></fault>``, or empty when
        detail is None (as the engine's 404s are).
        """
        with self._lock:
            self._failures.append(_Interference(method.upper(), re.compile(path_pattern), times, status=status,
                                                detail=detail))

    def hang(self, method, path_pattern, seconds, times=1):
        """The next ``times`` requests whose path matches (re.search) are answered ``seconds`` late."""
        with self._lock:
            self._hangs.append(_Interference(method.upper(), re.compile(path_pattern), times, seconds=seconds))

    def api_requests(self):
        with self._lock:
            return [request for request in self.requests if _is_api_path(request.path)]

    def count(self, method, path_pattern):
        """How many requests with this method had a path matching path_pattern (re.search)."""
        with self._lock:
            return sum(1 for request in self.requests
                       if request.method == method.upper() and re.search(path_pattern, request.path))

    def live_tokens(self):
        """The SSO tokens not revoked yet."""
        with self._lock:
            return set(self._sessions)

    # -- HTTP -----------------------------------------------------------------------------------

    def handle(self, method, target, headers, body):
        """The reply to one request; the server's connection threads call this."""
        parts = urllib.parse.urlsplit(target)
        query = {name: values[-1] for name, values in
                 urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(RecordedRequest(method, parts.path, query, dict(headers.items()),
                                                 body.decode('utf-8', 'replace')))
            late = _take(self._hangs, method, parts.path)
        if late is not None:
            self._closing.wait(late.seconds)
        lookup = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            failure = _take(self._failures, method, parts.path)
            try:
                if failure is not None:
                    raise EngineFault(failure.status, failure.detail,
                                      reason=BACKEND_FAILED if failure.detail is not None else None)
                return self._route(method, parts.path, query, lookup, body)
            except EngineFault as fault:
                return fault.reply()

    def _route(self, method, path, query, headers, body):
        if path == SSO_TOKEN_PATH:
            return self._issue_token(_form(body, query))
        if path == SSO_LOGOUT_PATH:
            return self._revoke_token(_form(body, query))
        if not _is_api_path(path):
            raise _not_found()
        session = self._session(headers)
        if session is None:
            # backend/manager/modules/aaa/src/main/java/org/ovirt/engine/core/aaa/filters/EnforceAuthFilter.java
            # L51-59, with the scheme of backend/manager/modules/restapi/webapp/src/main/webapp/WEB-INF/web.xml
            # L75-78.
            return _Reply(401, UNAUTHORIZED_PAGE, 'text/html;charset=UTF-8',
                          (('WWW-Authenticate', 'Basic realm="RESTAPI"'),))
        request = _ApiRequest(session, query, headers)
        segments = [segment for segment in path[len(API_PATH):].split('/') if segment]
        if not segments and method == 'GET':
            return self._api_root(request)
        if segments[:1] == ['vms']:
            if len(segments) == 1 and method == 'GET':
                return self._list_vms(request)
            if len(segments) == 2 and method == 'GET':
                return self._get_vm(request, segments[1])
            if len(segments) == 2 and method == 'PUT':
                return self._update_vm(request, segments[1], body)
            if len(segments) == 3 and method == 'POST' and segments[2] in ('start', 'shutdown', 'stop'):
                # Every action's body is an <action>, read before the resource method runs.
                action = _parse_xml(body, 'action')
                if segments[2] == 'start':
                    return self._start_vm(request, segments[1], action)
                if segments[2] == 'shutdown':
                    return self._shutdown_vm(request, segments[1])
                return self._stop_vm(request, segments[1])
        raise _not_found()

    # -- SSO ------------------------------------------------------------------------------------

    def _issue_token(self, form):
        scope = form.get('scope', '')
        if form.get('grant_type') != 'password':
            # sso/servlets/OAuthTokenServlet.java L86-88, sso/api/SsoConstants.java L102, L112-113.
            return _sso_error(scope, 'unsupported_grant_type',
                              'The authorization grant type is not supported by the authorization server.')
        username = form.get('username', '')
        account = self.users.get(username)
        if account is None or account.password != form.get('password'):
            # sso/servlets/OAuthTokenServlet.java L177-191 and L55-56: access_denied with
            # CANNOT_AUTHENTICATE_USER_IN_DOMAIN (backend/manager/modules/enginesso/src/main/resources/
            # AppMessages.properties L6) around the authenticator's reason. The reason is aaa-jdbc's text, not in
            # the engine; it is the one the SDK's own test expects (ovirt-engine-sdk
            # sdk/tests/test_invalid_authentication.py L37-79).
            return _sso_error(scope, 'access_denied', "Cannot authenticate user '%s': The username or password "
                                                      "is incorrect.." % username)
        token = secrets.token_urlsafe(48)
        self._sessions[token] = _Session(username)
        valid_to = datetime.datetime.now(datetime.timezone.utc) + SSO_TOKEN_LIFETIME
        # sso/servlets/OAuthTokenServlet.java L271-278; "exp" is SsoSession.getValidTo(), epoch milliseconds,
        # as a string (sso/api/SsoSession.java L156-158).
        return _json_reply(200, {'access_token': token, 'scope': scope,
                                 'exp': str(int(valid_to.timestamp() * 1000)), 'token_type': 'bearer'})

    def _revoke_token(self, form):
        # sso/servlets/OAuthRevokeServlet.java L41-66: the session ends and the answer is {} even for an
        # unknown token; backend/manager/modules/services/src/main/java/org/ovirt/engine/core/services/
        # SsoLogoutServlet.java L26-43 passes it on.
        self._sessions.pop(form.get('token', ''), None)
        return _json_reply(200, {})

    def _session(self, headers):
        scheme, _space, token = headers.get('authorization', '').partition(' ')
        session = self._sessions.get(token.strip()) if scheme.lower() == 'bearer' else None
        if session is not None and session.admin is None:
            session.admin = self._is_admin(session.username)
        return session

    def _is_admin(self, username):
        """bll/MultiLevelAdministrationHandler.java L49-63 isAdminUser(): asked anew on each call."""
        account = self.users.get(username)
        return account is not None and account.admin

    # -- API ------------------------------------------------------------------------------------

    def _filtered(self, request):
        """rest/resource/BaseBackendResource.java L402-414: the filter parameter, else the user's default."""
        filtered = _boolean_parameter(request.parameter('filter', 'filter'), empty=True)
        if filtered is None:
            return self.filter_by_default if not request.session.admin else False
        return filtered

    def _query(self, request):
        """Whether this request's queries are filtered; a non-admin's unfiltered query fails.

        bll/QueriesCommandBase.java L155-171 refuses it; rest/resource/BackendResource.java L408-410 and
        rest/resource/BaseBackendResource.java L234-241 turn that into a 400 whose detail is the bare lowercased
        text.
        """
        filtered = self._filtered(request)
        if not filtered and not request.session.admin:
            raise EngineFault(400, QUERY_NOT_PERMITTED)
        return filtered

    def _authorize(self, request, action_group):
        """bll/CommandBase.java L820-825: the permission check comes before any validation."""
        account = self.users.get(request.session.username)
        if account is None or not (account.admin or action_group in account.action_groups):
            raise EngineFault(403, _messages(NOT_AUTHORIZED))

    def _api_root(self, request):
        filtered = self._filtered(request)
        if not filtered and not request.session.admin:
            # rest/resource/BackendApiResource.java L339-346 dereferences the answer of GetUserBySessionId, which
            # fails unfiltered for a non-admin; no ExceptionMapper takes the NullPointerException, so the engine
            # answers 500 without a fault (inferred).
            raise EngineFault(500, reason=None)
        api = ET.Element('api', href=API_PATH)
        product = ET.SubElement(api, 'product_info')
        _add_text(product, 'name', 'oVirt Engine')
        _add_text(product, 'vendor', 'ovirt.org')
        version = ET.SubElement(product, 'version')
        for tag, text in (('full_version', '4.5.8'), ('major', '4'), ('minor', '5')):
            _add_text(version, tag, text)
        if not filtered:
            # rest/resource/BackendApiResource.java L282-294: the summary only for unfiltered requests.
            summary = ET.SubElement(ET.SubElement(api, 'summary'), 'vms')
            _add_text(summary, 'active', str(sum(1 for vm in self._vms.values() if vm.status == 'up')))
            _add_text(summary, 'total', str(len(self._vms)))
        return _xml_reply(200, api)

    def _list_vms(self, request):
        filtered = self._query(request)
        vms = list(self._vms.values())
        search = request.query.get('search')
        if search:
            match = NAME_SEARCH.match(search)
            if match is None:
                raise EngineFault(400, _messages('the fake engine searches only name=NAME or name="NAME", not %r'
                                                 % search))
            name = match.group('quoted') if match.group('quoted') is not None else match.group('plain')
            if _boolean_parameter(request.query.get('case_sensitive'), empty=True) is False:
                vms = [vm for vm in vms if vm.name.lower() == name.lower()]
            else:
                vms = [vm for vm in vms if vm.name == name]
        if request.query.get('max', '').isdigit():
            vms = vms[:int(request.query['max'])]
        # rest/resource/BackendVmsResource.java L919-939: a list shows payloads only with All-Content.
        all_content = _boolean_parameter(request.parameter('all_content', 'all-content'), empty=True)
        listed = ET.Element('vms')
        for vm in vms:
            self._advance(vm)
            listed.append(self._vm_element(vm, request, filtered, with_payload=bool(all_content)))
        return _xml_reply(200, listed)

    def _get_vm(self, request, vm_id):
        filtered = self._query(request)
        vm = self._vms.get(vm_id)
        if vm is None:
            raise _not_found()
        self._advance(vm)
        # rest/resource/BackendVmResource.java L654-663: one VM always comes with its payload (deprecatedPopulate).
        return _xml_reply(200, self._vm_element(vm, request, filtered, with_payload=True))

    def _update_vm(self, request, vm_id, body):
        touches_payload, payload = _parse_vm_update(body)
        filtered = self._query(request)
        vm = self._vms.get(vm_id)
        if vm is None:
            raise _not_found()
        self._authorize(request, 'EDIT_VM_PROPERTIES')
        if payload is not None:
            self._validate_payload(payload)
        # bll/UpdateVmCommand.java L346-360: payloads are written only when the VM is not running; otherwise the
        # payload part of the PUT is dropped without error and the answer shows the old payload.
        if touches_payload and vm.status in NOT_RUNNING_STATUSES:
            vm.payload = payload
        # rest/resource/AbstractBackendSubResource.java L53-55: the answer is the VM read again, as GET gives it.
        return _xml_reply(200, self._vm_element(vm, request, filtered, with_payload=True))

    def _validate_payload(self, payload):
        # Bean validation of VmPayload.volumeId (common/businessentities/VmPayload.java L23-24) runs before
        # validate() (bll/CommandBase.java L820-825). @ValidI18NName is ^[\p{L}0-9._-]*$
        # (common/utils/ValidationUtils.java L25-26); @Size counts Java chars.
        if payload.volume_id is not None:
            messages = []
            if _utf16_units(payload.volume_id) > VOLUME_ID_MAX_UNITS:
                messages += [VOLUME_ID_TOO_LONG % VOLUME_ID_MAX_UNITS, VOLUME_ID_ATTRIBUTE]
            if not all(char.isalpha() or char in '0123456789._-' for char in payload.volume_id):
                messages += [VOLUME_ID_SPECIAL_CHARS, VOLUME_ID_ATTRIBUTE]
            if messages:
                # Bean Validation reports the violations of a field in no fixed order.
                raise EngineFault(400, _messages(*messages))
        # bll/VmCommand.java L428-446 and common/businessentities/VmPayload.java L61-63: each file on its own, its
        # text's Java length
        # against PayloadSize; the message says 2 * PayloadSize / 1024 "K".
        for _name, content in payload.files:
            if _utf16_units(content) > self.payload_size:
                raise EngineFault(400, _messages(PAYLOAD_SIZE_EXCEEDED % (2 * self.payload_size // 1024)))

    def _start_vm(self, request, vm_id, action):
        # rest/resource/BackendVmResource.java L497-509: more than one initialization asked for is refused
        # before the backend is called, with a reason and no detail.
        initializations = [name for name, tag in (('sysprep', 'use_sysprep'), ('cloud_init', 'use_cloud_init'),
                                                  ('ignition', 'use_ignition')) if _xml_flag(action, tag)]
        if len(initializations) > 1:
            raise EngineFault(409, reason=MIXED_INITIALIZATION)
        vm = self._vm_for_action(vm_id, 'run')
        self._authorize(request, 'RUN_VM')
        # bll/validator/RunVmValidator.java L201-210, in this order: vmNotLocked() (bll/validator/VmValidator.java
        # L99-105),
        # the action matrix (L503-510), vmDuringInitialization() (L460-467).
        if vm.status == 'image_locked':
            raise EngineFault(409, _messages(VM_LOCKED))
        if vm.status in START_FORBIDDEN_STATUSES:
            raise EngineFault(409, _messages(VM_STATUS_ILLEGAL % VM_STATUSES[vm.status][1]))
        if vm.status in RUNNING_STATUSES or vm.status == 'not_responding':
            raise EngineFault(409, _messages(VM_IS_RUNNING))
        if vm.status == 'paused':
            # bll/RunVmCommand.java L435-437, L468-469: a paused VM is resumed, without a new boot.
            vm.status = 'up'
        else:
            # bll/RunVmCommand.java L856-864 reads the stored payload when the run begins and L653-656 hands it
            # to VDSM; a Suspended VM goes the same way (RESUME_HIBERNATE, L439-440, L480-483). An initialization
            # asked for wins: the broker then attaches no stored payload (L891-924,
            # vdsbroker/vdsbroker/CreateBrokerVDSCommand.java L107-148).
            initialization = initializations[0] if initializations else None
            vm.boots.append(Boot(payload=None if initialization else copy.deepcopy(vm.payload),
                                 initialization=initialization))
            # vdsbroker/CreateVDSCommand.java L30-51: the status becomes what VDSM reports, WaitForLaunch.
            vm.status, vm.steps_left = ('wait_for_launch', self.steps_to_up) if self.steps_to_up else ('up', 0)
        return _action_done()

    def _shutdown_vm(self, request, vm_id):
        vm = self._vm_for_action(vm_id, 'shutdown')
        self._authorize(request, 'SHUT_DOWN_VM')
        self._check_stoppable(vm, 'shutdown')
        if vm.status != 'up':
            # bll/ShutdownVmCommand.java L55-75, L90-94: a VM that is not up is stopped instead.
            self._power_off(vm)
        elif not vm.ignores_shutdown:
            if self.steps_to_down:
                vm.status, vm.steps_left = 'powering_down', self.steps_to_down
            else:
                self._power_off(vm)
        return _action_done()

    def _stop_vm(self, request, vm_id):
        vm = self._vm_for_action(vm_id, 'stop')
        self._authorize(request, 'STOP_VM')
        self._check_stoppable(vm, 'stop')
        self._power_off(vm)
        return _action_done()

    def _vm_for_action(self, vm_id, verb):
        # The command's validate() finds no VM (bll/RunVmCommand.java L1066-1071, bll/StopVmCommandBase.java
        # L72-74).
        # That the engine gets there, past the permission check on a missing object, is inferred.
        vm = self._vms.get(vm_id)
        if vm is None:
            raise EngineFault(400, _messages(VM_NOT_FOUND % verb))
        return vm

    @staticmethod
    def _check_stoppable(vm, verb):
        # bll/StopVmCommandBase.java L84-90, the validation of both stop and shutdown.
        if vm.status in ('saving_state', 'restoring_state'):
            raise EngineFault(409, _messages(VM_SAVING_RESTORING % verb))
        if vm.status not in STOPPABLE_STATUSES:
            raise EngineFault(409, _messages(VM_NOT_RUNNING % verb))

    @staticmethod
    def _power_off(vm):
        vm.status, vm.steps_left = 'down', 0
        # bll/ProcessDownVmCommand.java L252-279, L287-320: once down, a pending next-run configuration is
        # applied by an UpdateVm with clearPayload set (L297), which removes the stored payload. The engine does
        # it just after Down, asynchronously; the fake does it at once.
        if vm.next_run_configuration_exists:
            vm.payload = None
            vm.next_run_configuration_exists = False

    def _advance(self, vm):
        """One step of a VM's start or power-down, taken each time a GET shows the VM."""
        if vm.steps_left <= 0:
            return
        vm.steps_left -= 1
        if vm.status in ('wait_for_launch', 'powering_up'):
            vm.status = 'up' if vm.steps_left == 0 else 'powering_up'
        elif vm.status == 'powering_down' and vm.steps_left == 0:
            self._power_off(vm)

    def _vm_element(self, vm, request, filtered, with_payload):
        element = ET.Element('vm', href='%s/vms/%s' % (API_PATH, vm.id), id=vm.id)
        _add_text(element, 'name', vm.name)
        rest_status = VM_STATUSES[vm.status][0]
        if rest_status is not None:
            _add_text(element, 'status', rest_status)
        _add_text(element, 'next_run_configuration_exists', _xml_boolean(vm.next_run_configuration_exists))
        # rest/resource/BackendVmResource.java L139-145: a filtered request loses <host> and <placement_policy>;
        # types/VmMapper.java L326-331 gives a host to a running VM, and types/VmBaseMapper.java L387-393 always
        # fills the placement policy (migratable unless pinned).
        if not filtered:
            if vm.status not in NOT_RUNNING_STATUSES:
                ET.SubElement(element, 'host', href='%s/hosts/%s' % (API_PATH, HOST_ID), id=HOST_ID)
            _add_text(ET.SubElement(element, 'placement_policy'), 'affinity', 'migratable')
        # bll/GetVmPayloadQuery.java L29-44: only a user with an administrator role, whatever the filter.
        if with_payload and vm.payload is not None and self._is_admin(request.session.username):
            element.append(_payloads_element(vm.payload))
        return element


@dataclasses.dataclass
class _ApiRequest:
    session: _Session
    query: dict
    headers: dict

    def parameter(self, name, header):
        """The query parameter, else the header: only filter and All-Content may be headers.

        rest/util/ParametersHelper.java L40-45, L61-124.
        """
        if name in self.query:
            return self.query[name]
        return self.headers.get(header)


def _is_api_path(path):
    return path == API_PATH or path.startswith(API_PATH + '/')


def _form(body, query):
    """The parameters a servlet reads: the form body's, then the query's."""
    form = dict(query)
    form.update((name, values[-1]) for name, values in
                urllib.parse.parse_qs(body.decode('utf-8', 'replace'), keep_blank_values=True).items())
    return form


def _sso_error(scope, code, message):
    # sso/service/SsoService.java L692-714, L717-730: HTTP 400; the REST API's scope alone gets error_code/error.
    if scope.split() == ['ovirt-app-api']:
        return _json_reply(400, {'error_code': code, 'error': message})
    return _json_reply(400, {'error': code, 'error_description': message})


def _action_done():
    # rest/resource/AbstractBackendActionableResource.java L77-97: no VDSM tasks, so the action is complete.
    done = ET.Element('action')
    _add_text(done, 'status', 'complete')
    return _xml_reply(200, done)
