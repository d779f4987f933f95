"""Deterministic synthetic base data: persons and legal entities for the stub sources.

``generate(seed)`` returns the same :class:`~identity.sources.dataset.SyntheticDataset` for the
same seed and sizes, in every process (only :class:`random.Random` seeded with an int is used;
no hashing of ``str``, no sets iterated into the output, no clock). The demo records of
:mod:`identity.sources.demo` come first. Everything else is drawn:

* persons: Chinese names from surname and given-name tables (about 2% with a ``name_variant``
  the population DB answers "mismatch" for), citizen ID numbers with valid GB 11643 check
  characters, three quarters registered in Tianjin's districts (120101..120119) and the rest in
  other provinces, birth dates 1935..2007, unique mainland mobile numbers, unique Luhn-valid
  UnionPay-style card numbers (5% without a card), about 3% deceased;
* entities: enterprises (91), individual businesses (92), co-operatives (93), government organs
  (11), public institutions (12), social organisations (51) and private non-enterprise units
  (52), with valid GB 32100 / GB 11714 codes (``MA``/``MB``/``MJ`` subject identifiers from
  late 2015 on, numeric ones before), a living person of the data set as legal representative,
  about 6% cancelled and 3% revoked (revocation only for market entities), about 2% with a
  ``name_variant``.

The default sizes (10,000 persons, 1,000 entities) generate in well under a second (measured in
``tests/identity/test_synthetic.py``). Results are cached per (seed, sizes): the data set is
immutable.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Final, TypeVar

from identity.numbers import (
    USCC_ALPHABET,
    id_number_check_char,
    luhn_check_digit,
    org_code_check_char,
    uscc_check_char,
)
from identity.sources.base import EntityStatus
from identity.sources.dataset import SyntheticDataset, SyntheticEntity, SyntheticPerson
from identity.sources.demo import DEMO_ENTITIES, DEMO_PERSONS

__all__ = ["DEFAULT_ENTITIES", "DEFAULT_PERSONS", "DEFAULT_SEED", "generate"]

DEFAULT_SEED: Final = 20_240_601
DEFAULT_PERSONS: Final = 10_000
DEFAULT_ENTITIES: Final = 1_000

# -- tables ---------------------------------------------------------------------------------------

_SURNAMES: Final = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴"
)
_COMPOUND_SURNAMES: Final = ("欧阳", "司马", "上官", "诸葛", "慕容")
_GIVEN: Final = (
    "伟芳娜英敏静丽强磊军洋勇艳杰娟涛明超霞平刚辉鹏华飞玲晶斌宇浩凯红梅琳婷雪慧颖欣宁佳俊峰波帅亮海燕"
    "玉兰萍雷鑫瑞博晨阳涵睿思雨轩萱然诺宏志永春德成立新庆东琪璐瑶晓坤桂秀建国文彬子一嘉悦欢乐天翔云"
)

#: GB/T 2260 codes of Tianjin's districts with their names.
_TIANJIN: Final = (
    ("120101", "和平区"), ("120102", "河东区"), ("120103", "河西区"), ("120104", "南开区"),
    ("120105", "河北区"), ("120106", "红桥区"), ("120110", "东丽区"), ("120111", "西青区"),
    ("120112", "津南区"), ("120113", "北辰区"), ("120114", "武清区"), ("120115", "宝坻区"),
    ("120116", "滨海新区"), ("120117", "宁河区"), ("120118", "静海区"), ("120119", "蓟州区"),
)  # fmt: skip
_OTHER_REGIONS: Final = (
    "110101", "110105", "110108", "130102", "130602", "210102", "310101", "310115", "320102",
    "330106", "360426", "370102", "410105", "420102", "440106", "440305", "500103", "510104",
    "610113", "650102",
)  # fmt: skip

_FIRST_BIRTH: Final = date(1935, 1, 1)
_BIRTH_SPAN_DAYS: Final = (date(2007, 12, 31) - _FIRST_BIRTH).days
_PHONE_PREFIXES: Final = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "173", "175", "176", "177", "178", "180",
    "181", "182", "183", "184", "185", "186", "187", "188", "189", "191", "198", "199",
)  # fmt: skip
_CARD_BINS: Final = ("622202", "621700", "622848", "621661", "622588", "623668", "622700", "621226")

_TRADE_NAMES: Final = (
    "华鑫盛达通泰宏远恒信瑞丰安嘉和润德源博创睿星辰海津滨东方新力禾金美"
    "佳汇联众天宇弘昌隆兴旺福祥康健正诚优卓越智航腾云"
)  # fmt: skip
#: (industry in the name, business scope).
_INDUSTRIES: Final = (
    ("科技", "技术开发、技术咨询、技术服务"),
    ("商贸", "日用百货、五金交电销售"),
    ("建筑工程", "建设工程施工；建筑材料销售"),
    ("餐饮管理", "餐饮管理；餐饮服务"),
    ("物流", "道路货物运输；仓储服务"),
    ("信息技术", "软件开发；信息系统集成服务"),
    ("医疗器械", "第二类医疗器械销售"),
    ("文化传媒", "组织文化艺术交流活动；广告设计、代理"),
    ("环保科技", "环保咨询服务；污水处理及其再生利用"),
    ("机械设备", "通用设备制造；机械设备销售"),
    ("食品", "食品销售；食品互联网销售"),
    ("教育咨询", "教育咨询服务"),
)
#: (suffix in the name, entity type).
_COMPANY_FORMS: Final = (
    ("有限公司", "有限责任公司"),
    ("有限公司", "有限责任公司（自然人独资）"),
    ("有限责任公司", "有限责任公司"),
    ("股份有限公司", "股份有限公司"),
)
_SHOPS: Final = (
    ("便利店", "日用百货零售"),
    ("小吃店", "小餐饮"),
    ("理发店", "理发服务"),
    ("五金店", "五金产品零售"),
    ("水果店", "新鲜水果零售"),
    ("家常菜馆", "餐饮服务"),
    ("服装店", "服装服饰零售"),
)
_CROPS: Final = ("蔬菜", "果品", "粮食", "花卉", "食用菌")
_BUREAUS: Final = (
    "教育局", "民政局", "司法局", "财政局", "人力资源和社会保障局", "生态环境局", "商务局", "文化和旅游局",
    "应急管理局", "审计局", "统计局", "退役军人事务局", "医疗保障局", "体育局", "卫生健康委员会",
    "农业农村委员会", "城市管理委员会", "政务服务办公室", "住房和城乡建设委员会", "科学技术局",
)  # fmt: skip
_INSTITUTIONS: Final = (
    "人民医院", "图书馆", "文化馆", "疾病预防控制中心", "社会福利院", "档案馆", "少年宫", "职业技术学校",
    "政务服务中心", "第一中学", "第二中学", "实验小学", "中医医院", "妇幼保健院", "青少年活动中心",
)  # fmt: skip
_ASSOCIATIONS: Final = (
    "餐饮行业协会", "书法家协会", "软件行业协会", "个体劳动者协会", "老年人体育协会", "摄影家协会",
    "物流协会", "建筑业协会", "律师协会", "志愿者协会",
)  # fmt: skip
_NON_ENTERPRISE_UNITS: Final = ("养老服务中心", "社会工作服务中心", "培训学校", "康复中心", "幼儿园")

_NEW_CODES_FROM: Final = date(2015, 10, 1)
_FIRST_REGISTRATION: Final = date(1995, 1, 1)
_REGISTRATION_SPAN_DAYS: Final = (date(2024, 12, 31) - _FIRST_REGISTRATION).days

# -- drawing --------------------------------------------------------------------------------------
# ``Random.choice`` / ``randrange`` cost a Python-level rejection loop per call; one ``random()``
# (C) scaled is 3x cheaper and its bias (< 2**-40 for these ranges) does not matter for test data.

T = TypeVar("T")


def _below(rng: random.Random, n: int) -> int:
    return int(rng.random() * n)


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


# -- persons --------------------------------------------------------------------------------------


def _person_name(rng: random.Random) -> str:
    surname = _pick(rng, _COMPOUND_SURNAMES) if rng.random() < 0.01 else _pick(rng, _SURNAMES)
    size = 2 if rng.random() < 0.6 else 1
    return surname + "".join(_pick(rng, _GIVEN) for _ in range(size))


def _name_variant(rng: random.Random, name: str) -> str:
    """The name with its last character replaced: 王五 -> 王伍-like mistakes."""
    last = name[-1]
    while last == name[-1]:
        last = _pick(rng, _GIVEN)
    return name[:-1] + last


def _unique(draw: Callable[[], str], seen: set[str]) -> str:
    value = draw()
    while value in seen:
        value = draw()
    seen.add(value)
    return value


def _id_number(rng: random.Random) -> str:
    region = _pick(rng, _TIANJIN)[0] if rng.random() < 0.75 else _pick(rng, _OTHER_REGIONS)
    birth = _FIRST_BIRTH + timedelta(days=_below(rng, _BIRTH_SPAN_DAYS + 1))
    sequence = 1 + _below(rng, 999)
    body = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
    return body + id_number_check_char(body)


def _phone(rng: random.Random) -> str:
    return f"{_pick(rng, _PHONE_PREFIXES)}{_below(rng, 100_000_000):08d}"


def _card_number(rng: random.Random) -> str:
    digits = 12 if rng.random() < 0.5 else 9  # 19- or 16-digit card: BIN 6 + account digits + check 1
    body = f"{_pick(rng, _CARD_BINS)}{_below(rng, 10**digits):0{digits}d}"
    return body + luhn_check_digit(body)


def _persons(rng: random.Random, count: int) -> list[SyntheticPerson]:
    persons = list(DEMO_PERSONS)
    ids = {p.id_number for p in persons}
    phones = {p.phone for p in persons}
    cards = {p.card_number for p in persons if p.card_number}
    while len(persons) < count:
        name = _person_name(rng)
        persons.append(
            SyntheticPerson(
                name=name,
                id_number=_unique(lambda: _id_number(rng), ids),
                phone=_unique(lambda: _phone(rng), phones),
                card_number=None if rng.random() < 0.05 else _unique(lambda: _card_number(rng), cards),
                deceased=rng.random() < 0.03,
                name_variant=_name_variant(rng, name) if rng.random() < 0.02 else None,
            )
        )
    return persons


# -- entities -------------------------------------------------------------------------------------


def _trade_name(rng: random.Random) -> str:
    return _pick(rng, _TRADE_NAMES) + _pick(rng, _TRADE_NAMES)


def _org_code(rng: random.Random, registered_on: date, new_prefix: str, seen: set[str]) -> str:
    """A GB 11714 organisation code; new-style codes (``MA``/``MB``/``MJ`` + 6) from late 2015 on.

    Only characters of the USCC alphabet are drawn, since the code is embedded in one.
    """

    def draw() -> str:
        if registered_on >= _NEW_CODES_FROM:
            body = new_prefix + "".join(_pick(rng, USCC_ALPHABET) for _ in range(6))
        else:
            body = f"{10_000_000 + _below(rng, 90_000_000)}"
        return body + org_code_check_char(body)

    return _unique(draw, seen)


# One kind of entity: (USCC class code, weight, new-code prefix, registration authority suffix).
_KINDS: Final = (
    ("91", 70, "MA", "市场监督管理局"),
    ("92", 12, "MA", "市场监督管理局"),
    ("93", 3, "MA", "市场监督管理局"),
    ("11", 5, "MB", "机构编制委员会办公室"),
    ("12", 4, "MB", "机构编制委员会办公室"),
    ("51", 3, "MJ", "民政局"),
    ("52", 3, "MJ", "民政局"),
)
_KIND_WEIGHTS: Final = tuple(kind[1] for kind in _KINDS)


def _entity_name(rng: random.Random, class_code: str, district: str) -> tuple[str, str, str | None]:
    """(name, entity type, business scope or ``None`` when there is no business licence)."""
    match class_code:
        case "91":
            industry, scope = _pick(rng, _INDUSTRIES)
            suffix, entity_type = _pick(rng, _COMPANY_FORMS)
            return f"天津{_trade_name(rng)}{industry}{suffix}", entity_type, scope
        case "92":
            shop, scope = _pick(rng, _SHOPS)
            return f"{district}{_trade_name(rng)}{shop}", "个体工商户", scope
        case "93":
            crop = _pick(rng, _CROPS)
            return (
                f"天津市{district}{_trade_name(rng)}{crop}种植专业合作社",
                "农民专业合作社",
                f"组织收购、销售成员种植的{crop}",
            )
        case "11":
            return f"天津市{district}{_pick(rng, _BUREAUS)}", "机关", None
        case "12":
            return f"天津市{district}{_pick(rng, _INSTITUTIONS)}", "事业单位", None
        case "51":
            return f"天津市{district}{_pick(rng, _ASSOCIATIONS)}", "社会团体", None
        case _:
            return (
                f"天津市{district}{_trade_name(rng)}{_pick(rng, _NON_ENTERPRISE_UNITS)}",
                "民办非企业单位",
                None,
            )


def _entity_variant(name: str) -> str:
    """A plausible wrong spelling of an entity name: 天津市… <-> 天津… (a common confusion)."""
    if name.startswith("天津市"):
        return "天津" + name[3:]
    if name.startswith("天津"):
        return "天津市" + name[2:]
    return "天津市" + name


def _entities(rng: random.Random, count: int, persons: list[SyntheticPerson]) -> list[SyntheticEntity]:
    entities = list(DEMO_ENTITIES)
    names = {e.name for e in entities}
    org_codes = {e.uscc[8:17] for e in entities}
    representatives = [p for p in persons if not p.deceased]
    while len(entities) < count:
        class_code, _, prefix, authority_suffix = rng.choices(_KINDS, _KIND_WEIGHTS)[0]
        city_level = class_code != "92" and rng.random() < 0.2
        region, district = ("120000", "") if city_level else _pick(rng, _TIANJIN)
        name, entity_type, scope = _entity_name(rng, class_code, district)
        if name in names:
            continue  # draw again; the name tables leave room for far more than the default size
        names.add(name)
        registered_on = _FIRST_REGISTRATION + timedelta(days=_below(rng, _REGISTRATION_SPAN_DAYS + 1))
        body = class_code + region + _org_code(rng, registered_on, prefix, org_codes)
        roll = rng.random()
        if roll < 0.03 and class_code[0] == "9":
            status = EntityStatus.REVOKED  # 吊销: a sanction of market regulation
        elif roll < 0.09:
            status = EntityStatus.CANCELLED
        else:
            status = EntityStatus.ACTIVE
        rep = _pick(rng, representatives)
        entities.append(
            SyntheticEntity(
                uscc=body + uscc_check_char(body),
                name=name,
                legal_rep=rep.name,
                legal_rep_id_number=rep.id_number,
                status=status,
                registered_on=registered_on,
                entity_type=entity_type,
                authority=f"天津市{district}{authority_suffix}",
                business_scope=scope,
                name_variant=_entity_variant(name) if rng.random() < 0.02 else None,
            )
        )
    return entities


@functools.lru_cache(maxsize=4)
def generate(
    seed: int = DEFAULT_SEED, *, persons: int = DEFAULT_PERSONS, entities: int = DEFAULT_ENTITIES
) -> SyntheticDataset:
    """The synthetic data set for ``seed``: identical for identical arguments, demo records first."""
    if persons < len(DEMO_PERSONS) or entities < len(DEMO_ENTITIES):
        raise ValueError(
            f"the data set holds at least the demo records ({len(DEMO_PERSONS)} persons, "
            f"{len(DEMO_ENTITIES)} entities)"
        )
    rng = random.Random(seed)
    person_list = _persons(rng, persons)
    return SyntheticDataset(seed, person_list, _entities(rng, entities, person_list))
