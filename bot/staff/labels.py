"""Japanese labels and date formats for the console's pages and its CSV exports (identifiers stay English)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from handlers.events import views as event_views
from handlers.registration.rules import format_phone
from handlers.reports import texts as report_texts
from services.events import facts as event_facts
from storage.clock import now, to_tokyo
from storage.models.events import KINDS
from storage.models.staff import CENTRES

CENTRE_LABELS = {c: event_views.centre("ja", c) for c in CENTRES}
CENTRE_SHORT = {c: event_views.centre_short("ja", c) for c in CENTRES}
KIND_LABELS = {k: event_views.kind("ja", k) for k in KINDS}
EVENT_STATUS_LABELS = {"draft": "下書き", "published": "公開中", "cancelled": "中止", "finished": "終了"}
ENROLLMENT_LABELS = {
    "confirmed": "参加確定",
    "pending": "承認待ち",
    "waitlisted": "キャンセル待ち",
    "declined": "お断り",
    "withdrawn": "取り消し",
}
SUBJECT_LABELS = {
    "parent": "保護者",
    "event": "イベント",
    "enrollment": "申し込み",
    "sanction": "参加制限",
    "escalation": "報告・相談",
    "staff": "職員",
    "policy_version": "ポリシーの版",
    "broadcast": "お知らせ",
}
# Policy section 6 (禁止事項), shortened for the sanction form; the full text is in the policy itself.
POLICY_ITEM_LABELS = {
    "6-(1)": "有害なプログラム等の送信・書き込み",
    "6-(2)": "著作権等の知的財産権の侵害",
    "6-(3)": "誹謗中傷・名誉を傷つける行為",
    "6-(4)": "映像・写真・音声のSNS等への投稿",
    "6-(5)": "財産・プライバシーの侵害",
    "6-(6)": "事実と反する・意味のない情報の書き込み",
    "6-(7)": "公序良俗に反する情報の公開",
    "6-(8)": "不要な個人情報の公開",
    "6-(9)": "保護者の同意のない未成年者のみの利用",
    "6-(10)": "その他の法令違反",
    "6-(11)": "WEB会議サービス提供者の規約違反",
}
DELIVERY_LABELS = {"planned": "送信予定", "sent": "送信済み", "failed": "失敗", "expired": "取りやめ"}
PURPOSE_LABELS = {
    "join_link": "参加用リンク",
    "reminder": "リマインダー",
    "application_update": "申し込みのお知らせ",
    "event_changed": "日時変更のお知らせ",
    "event_cancelled": "中止のお知らせ",
    "event_announcement": "新しいイベントのお知らせ",
    "thanks": "お礼・アンケート",
    "staff_instruction": "職員からの連絡",
    "sanction_notice": "参加制限のお知らせ",
    "broadcast": "お知らせ",
    "broadcast_urgent": "緊急のお知らせ",
}
# report_events actions (storage.models.reports.ReportEvent), for an escalation's history.
HISTORY_LABELS = {
    "created": "受付",
    "merged": "同じ内容の再報告",
    "links_revoked": "参加用リンクを停止",
    "notified": "当番へ通知",
    "renotified": "当番へ再通知",
    "escalated": "支援課へ通知",
    "acknowledged": "対応開始",
    "instruction_sent": "ご本人へ連絡",
    "answered": "ご本人から返事",
    "resolved": "解決",
    "reopened": "再開（未解決のまま時間経過）",
    "credentials_rotated": "参加URL・パスコードを変更",
    "loan_approved": "貸出を決定",
    "loan_declined": "貸出をお断り",
}
# The console's menu: (endpoint, label, permission needed to see it).
NAV_ITEMS = [
    ("staff.events", "イベント", "events.read"),
    ("staff.parents", "保護者", "parents.read"),
    ("staff.escalations", "報告・相談", "reports.read"),
    ("staff.policy", "ポリシー", "policy.read"),
    ("staff.statistics_page", "統計", "statistics.read"),
    ("staff.broadcasts_page", "お知らせ", "broadcasts.read"),
    ("staff.routing_page", "当番・通知先", "routing.read"),
    ("staff.audit_log", "監査ログ", "audit.read"),
    ("staff.members", "職員", "staff.manage"),
]
ROLE_LABELS = {"admin": "管理者", "staff": "センター職員", "viewer": "閲覧のみ"}
ANSWER_LABELS = {"agreed": "同意", "declined": "同意しない", "withdrawn": "撤回"}
ACTION_LABELS = {
    "staff.login": "ログイン",
    "staff.login_failed": "ログイン失敗",
    "staff.login_throttled": "ログイン制限",
    "staff.unlock": "ログイン待ち時間の解除",
    "staff.logout": "ログアウト",
    "staff.create": "職員アカウント作成",
    "staff.update": "職員アカウント変更",
    "staff.disable": "職員アカウント停止",
    "staff.enable": "職員アカウント再開",
    "staff.sessions_ended": "職員のセッション終了",
    "staff.password_changed": "パスワード変更",
    "staff.password_reset": "パスワード再設定",
    "staff.totp_enabled": "二段階認証 有効化",
    "staff.totp_disabled": "二段階認証 無効化",
    "staff.invite": "LINE連携コード発行",
    "staff.line_link": "職員のLINE連携",
    "staff.on_duty": "当番の切り替え",
    "routing.route_added": "通知先の追加",
    "routing.route_removed": "通知先の削除",
    "rota.slot_added": "当番表の追加",
    "rota.slot_removed": "当番表の削除",
    "rota.exception_added": "当番の例外日の追加",
    "rota.exception_removed": "当番の例外日の削除",
    "retention.event_archived": "保存期間経過：参加者情報の削除",
    "retention.feedback_anonymised": "保存期間経過：アンケートの匿名化",
    "keys.rotate": "暗号鍵の切り替え",
    "statistics.export": "統計の出力",
    "parent.search": "保護者検索",
    "parent.view": "保護者情報の閲覧",
    "parent.correct": "保護者情報の訂正",
    "parent.suspend": "利用停止",
    "parent.export": "保有個人データの開示（出力）",
    "parent.erase": "保護者情報の削除",
    "event.create": "イベント作成",
    "event.update": "イベント変更",
    "event.publish": "イベント公開",
    "event.cancel": "イベント中止",
    "event.participants": "参加者一覧の閲覧",
    "event.export": "参加者一覧の出力",
    "event.attendance": "出欠の記録",
    "enrollment.approve": "申し込みの承認",
    "enrollment.decline": "申し込みのお断り",
    "enrollment.reissue_link": "参加用リンクの再発行",
    "sanction.remove": "強制退去",
    "sanction.bar": "参加のお断り",
    "sanction.lift": "参加制限の解除",
    "event.rotate_credentials": "参加URL・パスコードの変更",
    "escalation.view": "報告・相談の閲覧",
    "escalation.created": "報告・相談の受付",
    "escalation.notified": "報告・相談を職員に通知",
    "escalation.renotified": "報告・相談を再通知",
    "escalation.escalated": "報告・相談を支援課にも通知（未対応）",
    "escalation.reopened": "報告・相談の再開",
    "escalation.merged": "同じ件の報告を前の報告にまとめる",
    "escalation.answered": "報告・相談：ご本人から返信",
    "escalation.links_revoked": "参加用リンクの停止（紛失・盗難）",
    "escalation.credentials_rotated": "報告・相談：参加URL・パスコードの変更",
    "escalation.acknowledged": "報告・相談の対応開始",
    "escalation.instruction_sent": "報告・相談：ご本人へ連絡",
    "escalation.resolved": "報告・相談の解決",
    "escalation.loan_approved": "機器の貸出を決定",
    "escalation.loan_declined": "機器の貸出をお断り",
    "policy.publish": "ポリシー新版の公開",
    "audit.export": "監査ログの出力",
    "broadcast.create": "お知らせの作成",
    "broadcast.approve": "お知らせの承認",
    "broadcast.cancel": "お知らせの取り消し",
    "broadcast.send": "お知らせの送信",
}


def tokyo(moment: datetime | None) -> str:
    return "" if moment is None else to_tokyo(moment).strftime("%Y-%m-%d %H:%M")


def tokyo_time(moment: datetime | None) -> str:
    return "" if moment is None else to_tokyo(moment).strftime("%H:%M")


def age(elapsed: timedelta) -> str:
    """How long something has waited: 「45分」「3時間」「2日」."""
    minutes = int(elapsed.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)}分"
    if minutes < 48 * 60:
        return f"{minutes // 60}時間"
    return f"{minutes // (24 * 60)}日"


def tokyo_date(moment: datetime | date | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        moment = to_tokyo(moment).date()
    return f"{moment:%Y-%m-%d}（{'月火水木金土日'[moment.weekday()]}）"


def audit_details(details: dict) -> str:
    def shown(value) -> str:
        return ",".join(map(str, value)) if isinstance(value, list) else str(value)

    return " ".join(f"{k}={shown(v)}" for k, v in sorted(details.items()))


def target_text(event) -> str:
    """Who an event is for, in the words parents see."""
    return event_views.target("ja", event_facts.info(event))


def month(value: date | None) -> str:
    return "" if value is None else f"{value.year}年{value.month}月"


def template_values() -> dict:
    return {**TEMPLATE_VALUES, "printed_at": tokyo(now())}


TEMPLATE_VALUES = {
    "centre_labels": CENTRE_LABELS,
    "centre_short": CENTRE_SHORT,
    "kind_labels": KIND_LABELS,
    "event_status_labels": EVENT_STATUS_LABELS,
    "enrollment_labels": ENROLLMENT_LABELS,
    "subject_labels": SUBJECT_LABELS,
    "policy_item_labels": POLICY_ITEM_LABELS,
    "nav_items": NAV_ITEMS,
    "delivery_labels": DELIVERY_LABELS,
    "history_labels": HISTORY_LABELS,
    "purpose_labels": PURPOSE_LABELS,
    "role_labels": ROLE_LABELS,
    "answer_labels": ANSWER_LABELS,
    "action_labels": ACTION_LABELS,
    "month_label": month,
    "audit_details": audit_details,
    "target_text": target_text,
    "format_phone": format_phone,
    "report_label": lambda group, value: report_texts.label("ja", group, value),
    "report_labels": lambda group, values: report_texts.labels("ja", group, values),
    "report_status": lambda status, outcome: report_texts.status_label("ja", status, outcome),
}
