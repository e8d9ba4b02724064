"""The ja/en message catalog: every sentence renkei shows a user, in both languages.

Report mails, validation messages and API errors all come from here so the two
languages stay in step; a test checks that every key has both.
"""

from __future__ import annotations

LANGUAGES = ("ja", "en")

CATALOG: dict[str, dict[str, str]] = {
    # -- file names --------------------------------------------------------------
    "filename.rule": {
        "ja": "ファイル名「{name}」は規則に合いません。日次は YYYYMMDD.csv"
        "(実在する日付)、月次は YYYYMM00.csv です",
        "en": "file name '{name}' breaks the rule: daily files are YYYYMMDD.csv "
        "(a real calendar date), monthly files are YYYYMM00.csv",
    },
    # -- whole-file problems -----------------------------------------------------
    "file.too_large": {
        "ja": "ファイルが大きすぎます({size} バイト、上限 {limit} バイト)",
        "en": "file too large ({size} bytes, limit {limit} bytes)",
    },
    "file.too_many_rows": {
        "ja": "データ行が多すぎます({rows} 行超、上限 {limit} 行)",
        "en": "too many data rows (more than {rows}, limit {limit})",
    },
    "file.utf8_not_cp932": {
        "ja": "Shift_JIS(CP932)で送る設定ですが、ファイルは UTF-8 です",
        "en": "the file was declared Shift_JIS (CP932) but is UTF-8",
    },
    "file.empty": {
        "ja": "ファイルが空です",
        "en": "the file is empty",
    },
    "file.bad_bytes": {
        "ja": "{line}行目: {encoding} として読めないバイトがあります({hex})",
        "en": "line {line}: bytes that are not valid {encoding} ({hex})",
    },
    "file.truncated": {
        "ja": "{line}行目: ファイルが途中で切れています",
        "en": "line {line}: the file is truncated",
    },
    "file.bad_csv": {
        "ja": "{line}行目: CSV として読めません({detail})",
        "en": "line {line}: not readable as CSV ({detail})",
    },
    "file.missing_data": {
        "ja": "スプールにファイルがありません",
        "en": "the spooled file is missing",
    },
    "header.missing": {
        "ja": "1行目: 見出しに列がありません: {columns}",
        "en": "line 1: the header lacks columns: {columns}",
    },
    "header.unknown": {
        "ja": "1行目: 見出しに不明な列があります: {columns}",
        "en": "line 1: the header has unknown columns: {columns}",
    },
    "header.duplicate": {
        "ja": "1行目: 見出しの列が重複しています: {columns}",
        "en": "line 1: the header repeats columns: {columns}",
    },
    "header.invalid": {"ja": "{detail}", "en": "{detail}"},
    "run.unknown_account": {
        "ja": "アカウント「{account}」は設定にありません",
        "en": "account '{account}' is not configured",
    },
    "run.no_key": {
        "ja": "取込方法 {mode} にはキー列が必要ですが、レイアウト {layout} に key がありません",
        "en": "import mode {mode} needs key columns, but layout {layout} declares no key",
    },
    "run.dry_run": {
        "ja": "試行のみ(dry run):検証しただけで、何も書き込んでいません",
        "en": "dry run: validated only, nothing was written",
    },
    "run.unknown_layout": {
        "ja": "レイアウト「{layout}」は設定にありません",
        "en": "layout '{layout}' is not configured",
    },
    "run.no_csv_attachment": {
        "ja": "メールに CSV の添付ファイルがありません",
        "en": "the mail has no CSV attachment",
    },
    "run.account_stopped": {
        "ja": "アカウントは連動稼働停止中のため取り込みませんでした",
        "en": "the account is stopped; nothing was imported",
    },
    "run.quarantined": {
        "ja": "{attempts} 回試みても取り込めなかったため隔離しました",
        "en": "quarantined after {attempts} failed attempts",
    },
    "run.rejected": {
        "ja": "{failed} 行にエラーがあるため、1行も取り込みませんでした",
        "en": "{failed} rows have errors, so no row was imported",
    },
    "run.skipped": {
        "ja": "{failed} 行はエラーのため取り込まず、{imported} 行を取り込みました",
        "en": "{failed} rows had errors and were skipped; {imported} rows were imported",
    },
    "run.aborted": {
        "ja": "停止のため中断し、ロールバックしました(次回起動時に再実行します)",
        "en": "stopped part-way and rolled back (runs again at next start)",
    },
    "run.internal": {
        "ja": "内部エラーのため取り込めませんでした: {detail}",
        "en": "internal error, the file was not imported: {detail}",
    },
    # -- row and cell problems ---------------------------------------------------
    "row.field_count": {
        "ja": "列の数が {expected} ではなく {actual} です",
        "en": "has {actual} fields instead of {expected}",
    },
    "cell.required": {
        "ja": "必須項目が空です",
        "en": "is required but empty",
    },
    "cell.max_length": {
        "ja": "{limit} 文字を超えています({length} 文字)",
        "en": "is longer than {limit} characters ({length})",
    },
    "cell.int": {
        "ja": "整数ではありません",
        "en": "is not a whole number",
    },
    "cell.decimal": {
        "ja": "数値ではありません",
        "en": "is not a number",
    },
    "cell.int_range": {
        "ja": "整数として大きすぎます(±9223372036854775807 まで)",
        "en": "is too large for a whole number (at most ±9223372036854775807)",
    },
    "cell.max_digits": {
        "ja": "桁数が {limit} 桁を超えています",
        "en": "has more than {limit} digits",
    },
    "cell.date": {
        "ja": "日付(YYYY/MM/DD または YYYY-MM-DD)ではありません",
        "en": "is not a date (YYYY/MM/DD or YYYY-MM-DD)",
    },
    "cell.datetime": {
        "ja": "日時(YYYY/MM/DD HH:MM[:SS])ではありません",
        "en": "is not a date and time (YYYY/MM/DD HH:MM[:SS])",
    },
    "cell.bool": {
        "ja": "真偽値(1/0、true/false)ではありません",
        "en": "is not a yes/no value (1/0, true/false)",
    },
    "cell.choice": {
        "ja": "選択肢 {values} のいずれでもありません",
        "en": "is not one of {values}",
    },
    "cell.reference": {
        "ja": "{layout} の {key_column} にありません",
        "en": "is not a {key_column} in {layout}",
    },
    "cell.error": {
        "ja": "{line}行目 列「{column}」の値「{value}」は{problem}",
        "en": "line {line}, column '{column}', value '{value}' {problem}",
    },
    "row.error": {
        "ja": "{line}行目: {problem}",
        "en": "line {line}: {problem}",
    },
    # -- report mail ---------------------------------------------------------------
    "report.subject.completed": {
        "ja": "[renkei] 取込完了: {account} {filename} ({imported}件)",
        "en": "[renkei] imported: {account} {filename} ({imported} rows)",
    },
    "report.subject.failed": {
        "ja": "[renkei] 取込エラー: {account} {filename}",
        "en": "[renkei] import failed: {account} {filename}",
    },
    "report.subject.partial": {
        "ja": "[renkei] 一部取込: {account} {filename} (エラー {failed}件)",
        "en": "[renkei] partly imported: {account} {filename} ({failed} errors)",
    },
    "report.intro.completed": {
        "ja": "ファイルの取り込みが完了しました。",
        "en": "The file was imported.",
    },
    "report.intro.failed": {
        "ja": "ファイルを取り込めませんでした。",
        "en": "The file was not imported.",
    },
    "report.intro.partial": {
        "ja": "ファイルの一部を取り込みました。エラーの行は取り込んでいません。",
        "en": "Part of the file was imported; rows with errors were left out.",
    },
    "report.field.run": {"ja": "実行ID", "en": "Run"},
    "report.field.account": {"ja": "アカウント", "en": "Account"},
    "report.field.channel": {"ja": "経路", "en": "Channel"},
    "report.field.sender": {"ja": "送信元", "en": "Sender"},
    "report.field.filename": {"ja": "ファイル", "en": "File"},
    "report.field.encoding": {"ja": "文字コード", "en": "Encoding"},
    "report.field.received": {"ja": "受付日時", "en": "Received"},
    "report.field.started": {"ja": "開始日時", "en": "Started"},
    "report.field.finished": {"ja": "終了日時", "en": "Finished"},
    "report.field.counts": {"ja": "件数", "en": "Rows"},
    "report.field.message": {"ja": "メッセージ", "en": "Message"},
    "report.counts": {
        "ja": "全 {total} 行 / 取込 {imported} 行 / エラー {failed} 行",
        "en": "{total} total / {imported} imported / {failed} failed",
    },
    "report.errors.head": {
        "ja": "エラー(先頭 {shown} 件 / 全 {total} 件):",
        "en": "Errors (first {shown} of {total}):",
    },
    "report.errors.attached": {
        "ja": "すべてのエラーは添付の {name} をご覧ください。",
        "en": "All errors are in the attached {name}.",
    },
    "report.footer": {
        "ja": "このメールは renkei が自動で送信しています。",
        "en": "This mail was sent automatically by renkei.",
    },
}


def message(key: str, language: str = "ja", **params: object) -> str:
    """The sentence for `key` in `language` (English when the language is unknown)."""
    entry = CATALOG[key]
    text = entry.get(language) or entry["en"]
    return text.format(**params)
