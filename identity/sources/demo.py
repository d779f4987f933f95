"""Well-known demo records: the first records of every synthetic data set, whatever the seed.

Tests, the demo world (``ywt init --demo``) and people trying the service rely on these values.
All numbers are synthetic but valid (check characters computed with :mod:`identity.numbers`;
``tests/identity/test_demo.py`` recomputes them). They may coincide with real numbers; the names
are invented, so a name + number pair is not a real person's.

| constant | name | number | what the sources answer |
|---|---|---|---|
| DEMO_CITIZEN | 张三 | 120101199001011239 | match (population, telecom-3, bank-4) |
| DEMO_DECEASED | 李四 | 120102194503152019 | population: deceased |
| DEMO_MISMATCH | 王五 | 120103198506203453 | population: mismatch for the variant 王伍 |
| DEMO_DEPARTMENT_HEAD | 赵敏 | 120104197808081246 | legal representative of the department |
| DEMO_COMPANY_REP | 刘洋 | 120116198804125678 | legal representative of the company |
| DEMO_NO_CARD | 陈静 | 120105199202173328 | bank-4: not_found (holds no card) |
| DEMO_DEPARTMENT | 天津市示例行政审批局 | 11120000MB0000019W | class 11 (organ), region 120000 |
| DEMO_COMPANY | 天津示例科技有限公司 | 91120116MA05D1E12G | active, licence; variant 天津市示例… |
| DEMO_CANCELLED_ENTITY | 天津示例商贸有限公司 | 91120104MA05D2E23F | cancelled (注销) |
| DEMO_REVOKED_ENTITY | 天津示例餐饮管理有限公司 | 91120101MA05D3E34F | revoked (吊销) |

Phones and cards: see the constants (张三: 13920001234, 6222020123456789015).
"""

from __future__ import annotations

from datetime import date
from typing import Final

from identity.sources.base import EntityStatus
from identity.sources.dataset import SyntheticEntity, SyntheticPerson

__all__ = [
    "DEMO_CANCELLED_ENTITY",
    "DEMO_CITIZEN",
    "DEMO_COMPANY",
    "DEMO_COMPANY_REP",
    "DEMO_DECEASED",
    "DEMO_DEPARTMENT",
    "DEMO_DEPARTMENT_HEAD",
    "DEMO_ENTITIES",
    "DEMO_MISMATCH",
    "DEMO_NO_CARD",
    "DEMO_PERSONS",
    "DEMO_REVOKED_ENTITY",
]

DEMO_CITIZEN: Final = SyntheticPerson(
    name="张三",
    id_number="120101199001011239",  # 和平区, 1990-01-01, sequence 123 (male)
    phone="13920001234",
    card_number="6222020123456789015",
)
DEMO_DECEASED: Final = SyntheticPerson(
    name="李四",
    id_number="120102194503152019",
    phone="13920006789",
    card_number=None,
    deceased=True,
)
DEMO_MISMATCH: Final = SyntheticPerson(
    name="王五",
    id_number="120103198506203453",
    phone="13920002345",
    card_number="6217000123456789019",
    name_variant="王伍",
)
DEMO_DEPARTMENT_HEAD: Final = SyntheticPerson(
    name="赵敏",
    id_number="120104197808081246",
    phone="13920003456",
    card_number="6228480123456789015",
)
DEMO_COMPANY_REP: Final = SyntheticPerson(
    name="刘洋",
    id_number="120116198804125678",
    phone="13920004567",
    card_number="6225880123456789017",
)
DEMO_NO_CARD: Final = SyntheticPerson(
    name="陈静",
    id_number="120105199202173328",
    phone="13920005678",
    card_number=None,
)

DEMO_PERSONS: Final = (
    DEMO_CITIZEN,
    DEMO_DECEASED,
    DEMO_MISMATCH,
    DEMO_DEPARTMENT_HEAD,
    DEMO_COMPANY_REP,
    DEMO_NO_CARD,
)

DEMO_DEPARTMENT: Final = SyntheticEntity(
    uscc="11120000MB0000019W",
    name="天津市示例行政审批局",
    legal_rep=DEMO_DEPARTMENT_HEAD.name,
    legal_rep_id_number=DEMO_DEPARTMENT_HEAD.id_number,
    status=EntityStatus.ACTIVE,
    registered_on=date(2014, 5, 20),
    entity_type="机关",
    authority="天津市机构编制委员会办公室",
    business_scope=None,
)
DEMO_COMPANY: Final = SyntheticEntity(
    uscc="91120116MA05D1E12G",
    name="天津示例科技有限公司",
    legal_rep=DEMO_COMPANY_REP.name,
    legal_rep_id_number=DEMO_COMPANY_REP.id_number,
    status=EntityStatus.ACTIVE,
    registered_on=date(2016, 3, 18),
    entity_type="有限责任公司",
    authority="天津市滨海新区市场监督管理局",
    business_scope="技术开发、技术咨询、技术服务；软件开发；信息系统集成服务",
    name_variant="天津市示例科技有限公司",
)
DEMO_CANCELLED_ENTITY: Final = SyntheticEntity(
    uscc="91120104MA05D2E23F",
    name="天津示例商贸有限公司",
    legal_rep=DEMO_NO_CARD.name,
    legal_rep_id_number=DEMO_NO_CARD.id_number,
    status=EntityStatus.CANCELLED,
    registered_on=date(2017, 6, 1),
    entity_type="有限责任公司",
    authority="天津市南开区市场监督管理局",
    business_scope="日用百货、五金交电批发兼零售",
)
DEMO_REVOKED_ENTITY: Final = SyntheticEntity(
    uscc="91120101MA05D3E34F",
    name="天津示例餐饮管理有限公司",
    legal_rep=DEMO_NO_CARD.name,
    legal_rep_id_number=DEMO_NO_CARD.id_number,
    status=EntityStatus.REVOKED,
    registered_on=date(2018, 9, 10),
    entity_type="有限责任公司",
    authority="天津市和平区市场监督管理局",
    business_scope="餐饮管理；餐饮服务",
)

DEMO_ENTITIES: Final = (DEMO_DEPARTMENT, DEMO_COMPANY, DEMO_CANCELLED_ENTITY, DEMO_REVOKED_ENTITY)
