"""The ja/en message catalog: every sentence renkei shows a user, in both languages.

Report mails, validation messages and API errors all come from here so the two
languages stay in step; a test checks that every key has both.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field

LANGUAGES = ("ja", "en")

CATALOG: dict[str, dict[str, str]] = {
    # -- file names --------------------------------------------------------------
    "filename.rule": {
        "ja": "ファイル名「{name}」は規則に合いません。{rule}",
        "en": "file name '{name}' breaks the rule: {rule}",
    },
    "filename.correction_renamed": {
        "ja": "ファイル名「{name}」はエラーCSVの訂正を別の名前にしたもののようです。"
        "訂正は「{expected}」の名前のまま、CSV で送ってください"
        "(別の名前では、訂正した行だけでファイルの行を置き換えてしまいます)",
        "en": "file name '{name}' looks like a corrected error CSV under another name: send"
        " the correction as '{expected}', a CSV (under another name its rows alone would"
        " replace the file's)",
    },
    "filename.rule.default": {
        "ja": "日次は YYYYMMDD.csv(実在する日付)、月次は YYYYMM00.csv です",
        "en": "daily files are YYYYMMDD.csv (a real calendar date), monthly files are YYYYMM00.csv",
    },
    "filename.rule.patterns": {
        "ja": "受け付けるファイル名は {patterns} です(日付の部分は実在する日付、"
        "* は任意の文字列、? は任意の1文字)",
        "en": "names must match {patterns} (the date part a real calendar date, "
        "* any text, ? any one character)",
    },
    "filename.rule.excel": {
        "ja": "{rule}(.csv の代わりに .xlsx・.xls も可)",
        "en": "{rule} (.xlsx or .xls also taken in place of .csv)",
    },
    # -- whole-file problems -----------------------------------------------------
    "file.too_large": {
        "ja": "ファイルが大きすぎます({size:,} バイト、上限 {limit:,} バイト)",
        "en": "file too large ({size:,} bytes, limit {limit:,} bytes)",
    },
    "file.too_many_rows": {
        "ja": "データ行が多すぎます({rows:,} 行超、上限 {limit:,} 行)",
        "en": "too many data rows (more than {rows:,}, limit {limit:,})",
    },
    "file.utf8_not_cp932": {
        "ja": "Shift_JIS(CP932)で送る設定ですが、ファイルは UTF-8 です",
        "en": "the file was declared Shift_JIS (CP932) but is UTF-8",
    },
    "file.empty": {
        "ja": "ファイルが空です",
        "en": "the file is empty",
    },
    "file.utf16": {
        "ja": "UTF-16 のファイルは読めません。CSV(UTF-8 または Shift_JIS)で保存して送ってください",
        "en": "UTF-16 files cannot be read: save it as CSV (UTF-8 or Shift_JIS) and send it again",
    },
    "file.nul_byte": {
        "ja": "{line}行目: NUL 文字(バイト 0x00)があります。CSV のテキストには使えない文字です",
        "en": "line {line}: a NUL character (byte 0x00), which CSV text cannot hold",
    },
    "file.bad_bytes": {
        "ja": "{line}行目: {encoding} として読めないバイトがあります({hex})",
        "en": "line {line}: bytes that are not valid {encoding} ({hex})",
    },
    "file.bad_bytes_cp932": {
        "ja": "{line}行目: {encoding} として読めないバイトがあります({hex})。"
        "ファイルは Shift_JIS(CP932)のようです(アカウントの encoding を確かめてください)",
        "en": "line {line}: bytes that are not valid {encoding} ({hex}); the file looks"
        " like Shift_JIS (CP932): check the account's encoding",
    },
    "file.mixed_encodings": {
        "ja": "{line}行目は Shift_JIS、{utf8_line}行目からは UTF-8 のようです"
        "(1つのファイルに文字コードが混在しています)。1つの文字コードで保存し直してください",
        "en": "line {line} looks like Shift_JIS and the lines from {utf8_line} on like"
        " UTF-8 (one file in two encodings): save it again in one encoding",
    },
    "file.truncated": {
        "ja": "{line}行目から始まるレコードでファイルが途中で切れています",
        "en": "the file is cut off in the record starting on line {line}",
    },
    "file.unclosed_quote": {
        "ja": '{line}行目から始まるレコードの引用符(")が閉じられていません',
        "en": 'the record starting on line {line} has a quote (") that is never closed',
    },
    # The csv module's own words (English) never reach a partner: what it says in
    # strict mode is said by the keys below, anything else by these two alone.
    "file.bad_csv": {
        "ja": "{line}行目: CSV として読めません",
        "en": "line {line}: not readable as CSV",
    },
    "file.bad_csv_record": {
        "ja": "{line}行目から始まるレコードが {at}行目で CSV として読めません",
        "en": "the record starting on line {line} is not readable as CSV on line {at}",
    },
    # `"q"q"`, `"a" b`: the csv module's "',' expected after '\"'".
    "file.bad_csv.quote": {
        "ja": '{line}行目: CSV として読めません(引用符(")で囲んだセルの中に、'
        '2つ重ねていない引用符があります。セルの中の " は "" と書きます)',
        "en": 'line {line}: not readable as CSV (a quoted cell holds a quote (") that is'
        ' not doubled; inside a quoted cell, " is written "")',
    },
    "file.bad_csv_record.quote": {
        "ja": '{line}行目から始まるレコードが {at}行目で CSV として読めません(引用符(")で'
        '囲んだセルの中に、2つ重ねていない引用符があります。セルの中の " は "" と書きます)',
        "en": "the record starting on line {line} is not readable as CSV on line {at}"
        ' (a quoted cell holds a quote (") that is not doubled; inside a quoted cell,'
        ' " is written "")',
    },
    # The csv module's "field larger than field limit (N)".
    "file.bad_csv.long_cell": {
        "ja": "{line}行目: CSV として読めません(1つのセルが {limit} 文字を超えています)",
        "en": "line {line}: not readable as CSV (a cell is longer than {limit} characters)",
    },
    "file.bad_csv_record.long_cell": {
        "ja": "{line}行目から始まるレコードが {at}行目で CSV として読めません"
        "(1つのセルが {limit} 文字を超えています)",
        "en": "the record starting on line {line} is not readable as CSV on line {at}"
        " (a cell is longer than {limit} characters)",
    },
    "file.missing_data": {
        "ja": "スプールにファイルがありません",
        "en": "the spooled file is missing",
    },
    "store.refused": {
        "ja": "データベースがこのファイルの行を受け付けませんでした: {detail}。"
        "テーブルの制約(一意インデックスなど)とデータが合っていません。管理者に連絡してください",
        "en": "the database refused this file's rows: {detail}; the table's constraints"
        " (a unique index, say) do not fit the data: ask the admin",
    },
    "store.table_gone": {
        "ja": "取込先のテーブルかその列がデータベースにありません: {detail}。手で削除・変更された"
        "ようです。管理者に連絡してください(renkei を再読み込みするとテーブルと列を作り直します。"
        "その後この実行を再実行してください)",
        "en": "the table this file goes into, or a column of it, is not in the database:"
        " {detail}; it was dropped or altered by hand: ask the admin (a reload of renkei makes"
        " the table and its columns again; then retry this run)",
    },
    "store.value_too_long": {
        "ja": "キーまたは選択肢の値が長すぎて、データベースの索引に入りません(PostgreSQL では"
        "約 2,700 バイトまで)。値を短くして送り直してください",
        "en": "a key or choice value is too long for the database's index (PostgreSQL takes"
        " about 2,700 bytes): shorten it and send the file again",
    },
    # -- Excel workbooks (importers/workbook.py) ---------------------------------------
    "file.excel_off": {
        "ja": "このアカウントは Excel ブック(.xlsx・.xls)を受け付けません。"
        "取り込むには設定でアカウントに excel = true を指定するか、CSV で送ってください",
        "en": "this account does not take Excel workbooks (.xlsx, .xls): set excel = true "
        "on the account to import them, or send a CSV",
    },
    "workbook.not_workbook": {
        "ja": "Excel ブック(.xlsx・.xls)ではありません(CSV などの名前を変えたファイルです)",
        "en": "not an Excel workbook (.xlsx, .xls): another kind of file, a CSV renamed say",
    },
    "workbook.is_html": {
        "ja": "Excel ブック(.xlsx・.xls)ではなく、Excel で開ける HTML(ウェブページの表)に"
        "ブックの名前を付けたファイルです。Excel で開いて .xlsx か CSV で保存して送ってください",
        "en": "not an Excel workbook (.xlsx, .xls) but an HTML page (a web table Excel can"
        " open) under a workbook's name: open it in Excel and save it as .xlsx or CSV",
    },
    "workbook.is_xml": {
        "ja": "Excel ブック(.xlsx・.xls)ではなく、XML スプレッドシート(Excel 2003 XML)に"
        "ブックの名前を付けたファイルです。Excel で開いて .xlsx か CSV で保存して送ってください",
        "en": "not an Excel workbook (.xlsx, .xls) but an XML spreadsheet (Excel 2003 XML)"
        " under a workbook's name: open it in Excel and save it as .xlsx or CSV",
    },
    "workbook.unreadable": {
        "ja": "Excel ブックとして読めません。壊れているか、パスワードで保護されています({detail})",
        "en": "the Excel workbook cannot be read: it is damaged or password-protected ({detail})",
    },
    "workbook.expands": {
        "ja": "Excel ブックを展開すると大きすぎます({size} バイト、上限 {limit} バイト)",
        "en": "the Excel workbook is too large unpacked ({size} bytes, limit {limit} bytes)",
    },
    "workbook.too_large": {
        "ja": "シート「{sheet}」の使用範囲 A1:{last} は {cells:,} セルあり、大きすぎて読めません"
        "(上限 {limit:,} セル)。表から離れたセル({last} など)に値が残っていないか確かめ、"
        "消してから送ってください",
        "en": "sheet '{sheet}' uses A1:{last}, {cells:,} cells, too many to read (at most"
        " {limit:,}): a value was probably left far from the table (in {last}); delete it"
        " and send the workbook again",
    },
    "workbook.no_sheet": {
        "ja": "ブックにシート「{sheet}」がありません(あるシート: {sheets})",
        "en": "the workbook has no sheet '{sheet}' (its sheets: {sheets})",
    },
    # The header's problems (headers.match_header's keys) without their line: the reader
    # says the line (3行目) or, in a workbook, the sheet's row (売上!3) before each.
    "header.missing": {
        "ja": "見出しに列がありません: {columns}",
        "en": "the header lacks columns: {columns}",
    },
    "header.unknown": {
        "ja": "見出しに不明な列があります: {columns}",
        "en": "the header has unknown columns: {columns}",
    },
    "header.duplicate": {
        "ja": "見出しの列が重複しています: {columns}",
        "en": "the header repeats columns: {columns}",
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
    "run.dry_run_replaced": {
        "ja": "試行のみ(dry run):検証しただけで、何も書き込んでいません。実際に取り込むと、"
        "同じ名前のファイルが前に取り込んだ {replaced:,} 行は置き換えられます",
        "en": "dry run: validated only, nothing was written; a real import would replace the"
        " {replaced:@row} the same file name imported before",
    },
    "run.unknown_layout": {
        "ja": "レイアウト「{layout}」は設定にありません",
        "en": "layout '{layout}' is not configured",
    },
    "run.no_csv_attachment": {
        "ja": "メールに CSV の添付ファイルがありません",
        "en": "the mail has no CSV attachment",
    },
    # A mail with no CSV, by what it carried instead (handlers/attachments.Carried); the
    # run's file name says which attachments.
    "run.zip_attachment": {
        "ja": "添付ファイルは zip のため取り込めません(パスワード付き zip も同じです)。"
        "CSV をそのまま添付してください",
        "en": "the attachment is a zip, which cannot be imported (nor a password-protected"
        " one); attach the CSV itself",
    },
    "run.tnef_attachment": {
        "ja": "添付ファイルが winmail.dat (Outlook のリッチテキスト形式) に包まれているため"
        "取り込めません。テキスト形式か HTML 形式のメールで CSV を添付してください",
        "en": "the attachment is wrapped in winmail.dat (Outlook's rich text format) and"
        " cannot be imported; send the CSV in a plain text or HTML mail",
    },
    "run.other_attachment": {
        "ja": "メールに CSV の添付ファイルがありません。添付ファイルは CSV ではありません"
        "(名前が .csv で終わるもの、または形式が text/csv のものを取り込みます)",
        "en": "the mail has no CSV attachment; its attachments are no CSV files (a name"
        " ending in .csv, or the type text/csv, is taken)",
    },
    "run.also_attached": {
        "ja": "メールのほかの添付ファイル {names} は CSV ではないため取り込んでいません",
        "en": "the mail's other attachments, {names}, are no CSV files and were not imported",
    },
    # Which mail a run without a file came from: its Subject (handlers/attachments.subject_of).
    "run.mail_subject": {
        "ja": "メールの件名: 「{subject}」",
        "en": "the mail's subject: “{subject}”",
    },
    "run.body_csv": {
        "ja": "メールに CSV の添付ファイルがありません。本文が CSV のようです。"
        "CSV は本文に貼らず、ファイルとして添付してください",
        "en": "the mail has no CSV attachment; its body looks like CSV: attach the CSV as"
        " a file instead of pasting it",
    },
    "run.account_stopped": {
        "ja": "アカウントは連動稼働停止中のため取り込みませんでした",
        "en": "the account is stopped; nothing was imported",
    },
    "run.mail_cut_off": {
        "ja": "メールが途中で切れていて、この添付ファイルは最後まで届いていません"
        "(MIME の終わりの区切りがありません)。取り込んでいません。もう一度送ってください",
        "en": "the mail was cut off before this attachment's end (its closing MIME boundary"
        " is missing): nothing was imported; send it again",
    },
    "run.attachment_damaged": {
        "ja": "この添付ファイルの base64 が壊れています(base64 にない文字があります)。"
        "取り込んでいません。もう一度送ってください",
        "en": "this attachment's base64 is damaged (it holds characters base64 has not):"
        " nothing was imported; send it again",
    },
    "run.taken_elsewhere": {
        "ja": "この配信は別のインスタンスが実行 {run} として受け付け済みのため、取り込みませんでした",
        "en": "another instance accepted this delivery as run {run}; nothing was imported",
    },
    "run.superseded": {
        "ja": "同じファイルのより新しいもの(実行 {run})がすでに取り込まれているため、"
        "先に届いたこのファイルは取り込みませんでした(古い行で上書きしないため)",
        "en": "a newer file of this name (run {run}) was imported already; this one came"
        " before it and was not imported over its rows",
    },
    "run.quarantined": {
        "ja": "{attempts} 回試みても取り込めなかったため隔離しました",
        "en": "quarantined after {attempts} failed attempts",
    },
    "run.damaged": {
        "ja": "受け付けたファイルの情報が読めないため、{path} に退避しました({reason})",
        "en": "the received file's description cannot be read; set aside in {path} ({reason})",
    },
    "run.rejected": {
        "ja": "{failed:,} 行にエラーがあるため、1行も取り込みませんでした",
        "en": "{failed:@row} with errors: no row was imported",
    },
    "run.skipped": {
        "ja": "{failed:,} 行はエラーのため取り込まず、{imported:,} 行を取り込みました",
        "en": "{failed:@row} with errors skipped; {imported:@row} imported",
    },
    "run.skipped_replaced": {
        "ja": "{failed:,} 行はエラーのため取り込まず、{imported:,} 行を取り込みました"
        "(同じ名前のファイルが前に取り込んだ {replaced:,} 行と入れ替え)",
        "en": "{failed:@row} with errors skipped; {imported:@row} imported in place of the"
        " {replaced:@row} the same file name imported before",
    },
    "run.replaced": {
        "ja": "同じ名前のファイルが前に取り込んだ {replaced:,} 行と入れ替えました",
        "en": "replaced the {replaced:@row} the same file name imported before",
    },
    "run.replaced_by_none": {
        "ja": "ファイルに行がないため、同じ名前のファイルが前に取り込んだ {replaced:,} 行を削除しました",
        "en": "the file has no rows: removed the {replaced:@row} the same file name imported"
        " before",
    },
    "run.aborted": {
        "ja": "停止のため中断し、ロールバックしました(次回起動時に再実行します)",
        "en": "stopped part-way and rolled back (runs again at next start)",
    },
    "run.signalled": {
        "ja": "取込の途中で {signal} により終了しました。ロールバックし、行は取り込んでいません",
        "en": "ended part-way by {signal} and rolled back; no row was imported",
    },
    "run.command_killed": {
        "ja": "取り込んでいた renkei import が途中で強制終了されました。ロールバックされ、"
        "行は取り込んでいません(もう一度取り込んでください)",
        "en": "the renkei import importing it was killed part-way; it was rolled back and"
        " no row was imported (import the file again)",
    },
    "run.waits_for_earlier": {
        "ja": "先に届いたファイルがあとで取り込み直しになったため、その後に取り込みます"
        "(届いた順に取り込むため。試行回数には数えません)",
        "en": "a file that came before it is to be tried again later, so this one goes after"
        " it (files are imported in the order they came; not counted as an attempt)",
    },
    "run.reader_died": {
        "ja": "読み取り用のプロセスが途中で終了しました(終了コード {code}。メモリー不足などで"
        "強制終了された可能性があります)。サーバー側の問題のため試行回数には数えず、あとでもう一度取り込みます",
        "en": "a reader process ended part-way (exit {code}; killed for lack of memory,"
        " perhaps): the server's trouble, not counted as an attempt; the file is tried again"
        " later",
    },
    "run.cancelled": {
        "ja": "取込の途中で取り消されました(Ctrl-C)。ロールバックし、行は取り込んでいません",
        "en": "cancelled part-way (Ctrl-C) and rolled back; no row was imported",
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
    # A header ending in empty cells (`備考,,`) is read past only while they stay empty.
    "row.unnamed_cell": {
        "ja": "{position}列目に値「{value}」がありますが、その列の見出しが空です"
        "(見出しのない列の値は取り込めません)",
        "en": "has '{value}' in column {position}, whose header is empty"
        " (a column without a header cannot be imported)",
    },
    "cell.required": {
        "ja": "必須項目が空です",
        "en": "is required but empty",
    },
    "cell.max_length": {
        "ja": "{limit:,}文字を超えています(全{length:,}文字)",
        "en": "is longer than {limit:,} characters ({length:,})",
    },
    # The same of a value quoted cut (value.cut), which says its length already.
    "cell.max_length_cut": {
        "ja": "{limit:,}文字を超えています",
        "en": "is longer than {limit:,} characters",
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
        "ja": "整数として扱える範囲を超えています(±9223372036854775807 まで)",
        "en": "is out of the range of a whole number (±9223372036854775807 at most)",
    },
    "cell.max_digits": {
        "ja": "桁数が {limit} 桁を超えています",
        "en": "has more than {limit} digits",
    },
    "cell.date": {
        "ja": "日付(YYYY/MM/DD、YYYY-MM-DD、YYYYMMDD、YYYY年M月D日)ではありません",
        "en": "is not a date (YYYY/MM/DD, YYYY-MM-DD, YYYYMMDD or YYYY年M月D日)",
    },
    "cell.date_wareki": {
        "ja": "日付(YYYY/MM/DD、YYYYMMDD、令和6年5月16日、R6.5.16 など)ではありません",
        "en": "is not a date (YYYY/MM/DD, YYYYMMDD, 令和6年5月16日, R6.5.16, …)",
    },
    "cell.date_unreal": {
        "ja": "存在しない日付です",
        "en": "is a date that does not exist",
    },
    "cell.date_before_era": {
        "ja": "{era}の初日({first})より前の日付です",
        "en": "is before the first day of {era} ({first})",
    },
    "cell.date_after_era": {
        "ja": "{era}の最終日({last})より後の日付です",
        "en": "is after the last day of {era} ({last})",
    },
    "cell.format": {
        "ja": "決められた形式 {format} ではありません",
        "en": "is not in the agreed format {format}",
    },
    "cell.datetime": {
        "ja": "日時(YYYY/MM/DD HH:MM[:SS])ではありません",
        "en": "is not a date and time (YYYY/MM/DD HH:MM[:SS])",
    },
    "cell.datetime_unreal": {
        "ja": "存在しない日時です",
        "en": "is a date and time that does not exist",
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
        "ja": "レイアウト「{layout}」の「{key_column}」にありません",
        "en": "is not in column '{key_column}' of layout '{layout}'",
    },
    "cell.error": {
        "ja": "{line}行目 列「{column}」の値「{value}」は{problem}",
        "en": "line {line}, column '{column}', value '{value}' {problem}",
    },
    # A long cell value in a sentence: its start and how long it was (messages.cut).
    "value.cut": {
        "ja": "{head}…(全{length}文字)",
        "en": "{head}… ({length} characters)",
    },
    "row.error": {
        "ja": "{line}行目: {problem}",
        "en": "line {line}: {problem}",
    },
    # The same two for a workbook: the cell (売上!D14) or the row (売上!14) for the line.
    "cell.error_at": {
        "ja": "{at} 列「{column}」の値「{value}」は{problem}",
        "en": "{at}, column '{column}', value '{value}' {problem}",
    },
    "row.error_at": {
        "ja": "{at}: {problem}",
        "en": "{at}: {problem}",
    },
    # -- report mail ---------------------------------------------------------------
    "report.subject.completed": {
        "ja": "[renkei] 取込完了: {account} {filename} ({imported:,}件)",
        "en": "[renkei] imported: {account} {filename} ({imported:@row})",
    },
    "report.subject.failed": {
        "ja": "[renkei] 取込エラー: {account} {filename}",
        "en": "[renkei] import failed: {account} {filename}",
    },
    "report.subject.partial": {
        "ja": "[renkei] 一部取込: {account} {filename} (エラー {failed:,}件)",
        "en": "[renkei] partly imported: {account} {filename} ({failed:@error})",
    },
    # Completed under on_row_error = "skip" with every row in error: nothing imported.
    "report.subject.none_imported": {
        "ja": "[renkei] 取込なし: {account} {filename} (全 {failed:,} 行エラー)",
        "en": "[renkei] nothing imported: {account} {filename} ({failed:@row} failed, none imported)",
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
    "report.intro.none_imported": {
        "ja": "ファイルの行を 1 行も取り込んでいません。すべての行にエラーがありました。",
        "en": "No row of the file was imported: every row had errors.",
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
    "report.field.mode": {"ja": "取込方法", "en": "Mode"},
    "report.field.result": {"ja": "結果", "en": "Result"},
    "report.counts": {
        "ja": "全 {total:,} 行 / 取込 {imported:,} 行 / エラー {failed:,} 行",
        "en": "{total:,} total / {imported:,} imported / {failed:,} failed",
    },
    "report.errors.head": {
        "ja": "エラー(先頭 {shown} 件 / 全 {total:,} 件):",
        "en": "Errors (first {shown} of {total:,}):",
    },
    # The store keeps a run's first errors (importers.errors.ERRORS_KEPT): past them
    # how many there are is not known, only that there are at least that many.
    "report.errors.head_cut": {
        "ja": "エラー(先頭 {shown} 件 / {total:,} 件以上):",
        "en": "Errors (first {shown} of at least {total:,}):",
    },
    "report.errors.attached": {
        "ja": "すべてのエラーは添付の {name} をご覧ください。",
        "en": "All errors are in the attached {name}.",
    },
    "report.errors.download": {
        "ja": "エラーCSV {name}({size})はメールに添付できる大きさを超えたため添付していません。"
        "renkei の管理者に実行 {run} のエラーCSVを依頼してください"
        "(renkei の API を使える場合は {url} で取得できます)。",
        "en": "The error CSV {name} ({size}) is too large to attach to a mail: ask renkei's"
        " administrator for the error CSV of run {run} (or, where renkei's API is open to"
        " you, download it by {url}).",
    },
    "report.footer": {
        "ja": "このメールは renkei が自動で送信しています。",
        "en": "This mail was sent automatically by renkei.",
    },
    # -- admin alerts (daemon/report/alerts.py), to report.admin_to ------------------
    "alert.subject.reload_waits": {
        "ja": "[renkei] 設定の再読み込みを待っています",
        "en": "[renkei] config reload waiting",
    },
    "alert.body.reload_waits": {
        "ja": "設定ファイル {path} は問題ありませんが、データベースまたはディスクが一時的に使えない"
        "ため、まだ適用できていません。自動でもう一度試します。それまでは前の設定のまま動作を"
        "続けています。\n\n原因:",
        "en": "The config file {path} is fine, but the database or the disk could not take it"
        " for the moment: it is tried again by itself. renkei goes on with the previous config"
        " until then.\n\nCause:",
    },
    "alert.subject.reload": {
        "ja": "[renkei] 設定の再読み込みを中止しました",
        "en": "[renkei] config reload refused",
    },
    "alert.body.reload": {
        "ja": "設定ファイル {path} に問題があるため、再読み込みを中止しました。"
        "前の設定のまま動作を続けています。\n\n問題:",
        "en": "The config file {path} has problems, so it was not reloaded. "
        "renkei goes on with the previous config.\n\nProblems:",
    },
    "alert.subject.disk": {
        "ja": "[renkei] ディスクの空きが不足しています",
        "en": "[renkei] disk space low",
    },
    "alert.body.disk": {
        "ja": "{path} の空きは {free:,} バイトで、daemon.min_free_bytes({limit:,} バイト)を"
        "下回っています。空きが戻るまで、ファイルの受付を一時エラーで断ります。",
        "en": "{path} has {free:,} bytes free, under daemon.min_free_bytes ({limit:,} bytes). "
        "Until there is room again, files are refused with a temporary error.",
    },
    "alert.subject.account_gone": {
        "ja": "[renkei] 設定にないアカウントのファイルを取り込めませんでした: {account} {filename}",
        "en": "[renkei] a file of an account no longer in the config was not imported:"
        " {account} {filename}",
    },
    "alert.body.account_gone": {
        "ja": "受け付けたファイルのアカウント「{account}」が、取り込む前の再読み込みで設定から"
        "なくなったため、取り込めませんでした(実行は失敗として記録しています)。ファイルは"
        "保存してあります。アカウント名を変えたのなら、renkei show {run} --save フォルダ で"
        "取り出し、renkei import ファイル --account 新しい名前 で取り込んでください。",
        "en": 'The file was accepted for account "{account}", which a reload took out of the'
        " config before it was imported: it was not imported (its run failed). The file is"
        " kept: if the account was renamed, take it out with renkei show {run} --save FOLDER"
        " and import it with renkei import FILE --account NEW_NAME.",
    },
    "alert.subject.quarantined": {
        "ja": "[renkei] ファイルを隔離しました: {account} {filename}",
        "en": "[renkei] file quarantined: {account} {filename}",
    },
    "alert.body.quarantined": {
        "ja": "{attempts} 回の取込に失敗したため、ファイルを {path} に隔離しました。"
        "原因を取り除いてから再実行してください。",
        "en": "The file failed {attempts} import attempts and was quarantined in {path}. "
        "Remove the cause, then retry the run.",
    },
    "alert.subject.report_refused": {
        "ja": "[renkei] レポートメールが送信できませんでした: {item}",
        "en": "[renkei] report mail refused: {item}",
    },
    "alert.subject.report_unsendable": {
        "ja": "[renkei] レポートメールを送れないため退避しました: {item}",
        "en": "[renkei] report mail cannot be sent, set aside: {item}",
    },
    "alert.body.report_unsendable": {
        "ja": "レポートメールを中継サーバーに渡せませんでした(宛先などをメールに書けません)。"
        "再送せず {path} に保管しています。",
        "en": "A report mail could not be handed to the relay at all (its addresses cannot be"
        " written in a mail): it is not retried, and is kept in {path}.",
    },
    "alert.subject.report_refused_some": {
        "ja": "[renkei] レポートメールが一部の宛先に送信できませんでした: {item}",
        "en": "[renkei] report mail refused for some recipients: {item}",
    },
    "alert.body.report_refused_some": {
        "ja": "中継サーバーがレポートメールを一部の宛先について拒否しました(その宛先には再送しません)。"
        "ほかの宛先には送りました。",
        "en": "The relay refused a report mail for good for some of its recipients (it is"
        " not retried for them); the others have it.",
    },
    "alert.subject.report_refused_some_waiting": {
        "ja": "[renkei] レポートメールが一部の宛先に送信できませんでした: {item}",
        "en": "[renkei] report mail refused for some recipients: {item}",
    },
    "alert.body.report_refused_some_waiting": {
        "ja": "中継サーバーがレポートメールを一部の宛先について拒否しました(その宛先には再送しません)。"
        "ほかの宛先には再送を続けます。",
        "en": "The relay refused a report mail for good for some of its recipients (it is"
        " not retried for them); it is still retried for the others.",
    },
    "alert.body.report_refused": {
        "ja": "中継サーバーがレポートメールの受け取りを拒否しました(再送しません)。"
        "メールは {path} に保管しています。",
        "en": "The relay refused a report mail for good (it is not retried). "
        "The mail is kept in {path}.",
    },
    "alert.subject.damaged": {
        "ja": "[renkei] 読めないファイルを退避しました: {item}",
        "en": "[renkei] unreadable file set aside: {item}",
    },
    "alert.body.damaged": {
        "ja": "受け付けたファイルの情報(meta)が読めないため取り込まず、{path} に退避しました。"
        "ディスクの状態を確かめ、送信元に再送を依頼してください。",
        "en": "The description (meta) of a received file cannot be read, so it was not "
        "imported and was set aside in {path}. Check the disk, then ask the sender to "
        "send it again.",
    },
    "alert.subject.report_damaged": {
        "ja": "[renkei] 送れないレポートメールを退避しました: {item}",
        "en": "[renkei] unsendable report mail set aside: {item}",
    },
    "alert.body.report_damaged": {
        "ja": "送信待ちのレポートメールのファイルが壊れているため送らず、{path} に退避しました。"
        "ディスクの状態を確かめてください。実行の結果は管理画面で確認できます。",
        "en": "The waiting files of a report mail are damaged, so it was not sent and was "
        "set aside in {path}. Check the disk; the run's outcome is on the console.",
    },
    "alert.subject.call_failed": {
        "ja": "[renkei] 呼び出し {call} の要求が失敗しました: {run}",
        "en": "[renkei] requests of call {call} failed: {run}",
    },
    "alert.body.call_failed": {
        "ja": "取込 {run} のあとの呼び出し {call} で、要求 {total} 件のうち {failed} 件が"
        "失敗しました(再送はしません)。一覧は renkei show {run} で確かめられます。",
        "en": "The call {call} after the import {run} failed {failed} of {total} requests"
        " (they are not sent again). renkei show {run} lists them.",
    },
    "alert.field.call": {"ja": "呼び出し", "en": "Call"},
    "alert.field.failed": {"ja": "失敗した要求", "en": "Failed requests"},
    "alert.field.first_answer": {"ja": "最初に失敗した要求の応答", "en": "First failure's answer"},
    "alert.field.reason": {"ja": "理由", "en": "Reason"},
    "alert.field.recipients": {"ja": "宛先", "en": "Recipients"},
    "alert.field.reply": {"ja": "中継サーバーの応答", "en": "Relay's reply"},
    # -- what a run did, in words (report mail, CLI) -----------------------------
    # Who started a send (its run's sender): daemon/outward/triggers.py, web/sends.py
    "send.executor.admin": {"ja": "管理者(API・コマンド)", "en": "admin (API, command line)"},
    "send.executor.forward": {"ja": "取込のあとの自動送信", "en": "after an import"},
    "send.executor.schedule": {"ja": "スケジュール", "en": "schedule"},
    "channel.mail": {"ja": "メール", "en": "mail"},
    "channel.ftp": {"ja": "FTP", "en": "FTP"},
    "channel.api": {"ja": "API", "en": "API"},
    "channel.dropdir": {"ja": "フォルダ", "en": "drop folder"},
    "channel.cli": {"ja": "コマンド", "en": "command line"},
    "channel.send": {"ja": "送信", "en": "send"},
    # -- sends (daemon/outward/sends.py, daemon/report/sendmail.py) --------------
    "send.done": {
        "ja": "{sent} 件を {requests} 回のリクエストで送信しました。",
        "en": "{sent:@row} sent in {requests:@request}.",
    },
    "send.aborted": {
        "ja": "送信設定 {name} がなくなったため強制終了しました。{total} 件中 {sent} 件を送信済みです。",
        "en": "Ended: the send {name} is no longer configured; {sent} of {total:@row} sent.",
    },
    "send.split": {
        "ja": "1 回の上限({rows} 行・{bytes} バイト)を超えるため、{parts} 回に分けて送ります。",
        "en": "Over one request's limits ({rows:@row}, {bytes:@byte}): to be sent in"
        " {parts:@request}.",
    },
    "send.replaced": {
        "ja": "{encoding} にない文字 {count} 個を「?」にして送ります({chars})。",
        "en": "'?' goes in place of {count:@character} {encoding} cannot hold ({chars}).",
    },
    "send.replaced.sent": {
        "ja": "{encoding} にない文字 {count} 個を「?」にして送りました({chars})。",
        "en": "'?' was sent in place of {count:@character} {encoding} cannot hold ({chars}).",
    },
    # The send failed: what it tried to send, not what was sent.
    "send.replaced.tried": {
        "ja": "{encoding} にない文字 {count} 個を「?」にして送ろうとしました({chars})。",
        "en": "'?' was to go in place of {count:@character} {encoding} cannot hold ({chars}).",
    },
    "send.not_spooled": {
        "ja": "送信するリクエストを保存できなかったため、何も送信していません({detail})。",
        "en": "The requests could not be spooled, so nothing was sent ({detail}).",
    },
    "send.not_spooled.again": {
        "ja": "送信の準備中に renkei が停止したため、この実行では何も送信していません。"
        "取込のあとの送信なので、次の起動で新しい実行として送り直しています。",
        "en": "renkei stopped while the send was being spooled: this run sent nothing. It"
        " follows an import, so the next start sent it again as a new run.",
    },
    "send.not_spooled.stopped": {
        "ja": "送信の準備中に renkei が停止したため、何も送信していません。"
        "送るには送信をもう一度実行してください。",
        "en": "renkei stopped while the send was being spooled: nothing was sent; start the"
        " send again to send it.",
    },
    "send.no_rows": {
        "ja": "送る行がないため、送信しませんでした。",
        "en": "No row to send: nothing was sent.",
    },
    "send.not_built": {
        "ja": "送信するCSVを作れませんでした({detail})。",
        "en": "The CSV to send could not be built ({detail}).",
    },
    "send.subject.ok": {
        "ja": "[renkei] 送信完了: {name} ({sent}/{total}件)",
        "en": "[renkei] sent: {name} ({sent}/{total} rows)",
    },
    "send.subject.failed": {
        "ja": "[renkei] 送信エラー: {name} ({sent}/{total}件)",
        "en": "[renkei] send failed: {name} ({sent}/{total} rows)",
    },
    "send.intro.ok": {
        "ja": "データの送信が完了しました。",
        "en": "The rows were sent.",
    },
    "send.intro.failed": {
        "ja": "データを送信できませんでした。",
        "en": "The rows could not be sent.",
    },
    "send.counts": {
        "ja": "送信 {sent:,} 件 / 全 {total:,} 件",
        "en": "{sent:,} of {total:@row} sent",
    },
    "send.requests": {"ja": "リクエスト:", "en": "Requests:"},
    "cli.show.calls": {
        "ja": "取込のあとの呼び出し(http送信)のリクエスト:",
        "en": "Requests of the calls after the import:",
    },
    "send.field.name": {"ja": "送信設定", "en": "Send"},
    "send.field.layout": {"ja": "レイアウト", "en": "Layout"},
    "send.field.executor": {"ja": "実行者", "en": "Executor"},
    "send.field.file": {"ja": "ファイル", "en": "File"},
    "send.field.started": {"ja": "開始日時", "en": "Started"},
    "send.field.finished": {"ja": "終了日時", "en": "Finished"},
    "send.field.counts": {"ja": "件数", "en": "Rows"},
    "send.field.run": {"ja": "実行ID", "en": "Run"},
    "send.field.message": {"ja": "メッセージ", "en": "Message"},
    "mode.correction": {
        "ja": "追加(エラーCSVの訂正: 訂正した行をファイルの行に加える)",
        "en": "add (a corrected error CSV: its rows join the file's)",
    },
    "mode.replace_file": {
        "ja": "置換(同じ名前のファイルが前に取り込んだ行を入れ替え)",
        "en": "replace (the rows this file name imported before are replaced)",
    },
    "mode.insert": {"ja": "追加(すべての行を追加)", "en": "insert (every row is added)"},
    "mode.upsert": {
        "ja": "登録・更新(キーで照合)",
        "en": "upsert (insert or update by key)",
    },
    "mode.delete": {"ja": "削除(キーで照合)", "en": "delete (by key)"},
    "mode.set": {"ja": "値の設定(キーで照合)", "en": "set values (by key)"},
    "done.imported": {"ja": "{n:,} 件を取り込み", "en": "{n:,} imported"},
    "done.inserted": {"ja": "{n:,} 件を新規登録", "en": "{n:,} inserted"},
    "done.updated": {"ja": "{n:,} 件を更新", "en": "{n:,} updated"},
    "done.deleted": {"ja": "{n:,} 件を削除", "en": "{n:,} deleted"},
    "done.skipped": {
        "ja": "{n:,} 件は登録済みのため変更しませんでした",
        "en": "{n:,} left as they were (key already there)",
    },
    "done.not_found": {
        "ja": "{n:,} 件はキーが見つからず処理しませんでした",
        "en": "{n:,} not processed (key not found)",
    },
    "done.failed": {
        "ja": "{n:,} 件はエラーのため取り込みませんでした",
        "en": "{n:,} not imported (errors)",
    },
    "done.empty": {"ja": "空行 {n:,} 行は読み飛ばしました", "en": "{n:,} empty lines read past"},
    "done.join": {"ja": "、", "en": ", "},
    "done.sentence": {"ja": "{parts}。", "en": "{parts}."},
    "done.nothing": {
        "ja": "取り込む行はありませんでした。",
        "en": "There were no rows to import.",
    },
    "done.none_written": {"ja": "何も書き込んでいません。", "en": "Nothing was written."},
    "done.dry_run": {
        "ja": "試行のみ(dry run)のため何も書き込んでいません。実際に取り込むと: {sentence}",
        "en": "Dry run: nothing was written. A real import would give: {sentence}",
    },
    # -- the error CSV (error_report.py): the two columns after the partner's ----
    "errors_csv.line": {"ja": "行番号", "en": "line"},
    "errors_csv.error": {"ja": "エラー内容", "en": "error"},
    # -- HTTP API errors: the "message" beside a stable "error" code (daemon/web/errors.py)
    "api.unauthorized.missing": {
        "ja": "Bearer トークンがありません(Authorization: Bearer …)",
        "en": "missing bearer token",
    },
    "api.unauthorized.missing_header": {
        "ja": "トークンがありません(ヘッダー {header})",
        "en": "missing token (header {header})",
    },
    "api.unauthorized.unknown": {
        "ja": "トークンが正しくありません",
        "en": "unknown token",
    },
    "api.account_token_required": {
        "ja": "取り込みにはアカウントのトークンを使ってください",
        "en": "import with an account's token",
    },
    "api.not_found": {
        "ja": "{path} はありません",
        "en": "not found: {path}",
    },
    "api.not_found.import_path": {
        "ja": "取込パス {path} はありません",
        "en": "no import path {path}",
    },
    "api.not_found.account": {
        "ja": "アカウント {name} はありません",
        "en": "no account {name}",
    },
    "api.not_found.send": {
        "ja": "送信 {name} はありません([sends.{name}] がありません)",
        "en": "there is no send {name} ([sends.{name}] is missing)",
    },
    "api.unknown_column": {
        "ja": "レイアウトにない列です: {columns}",
        "en": "not columns of the layout: {columns}",
    },
    "api.not_found.run": {
        "ja": "実行 {run_id} はありません",
        "en": "no run {run_id}",
    },
    "api.error": {
        "ja": "リクエストを処理できませんでした(HTTP {status} {detail})",
        "en": "the request could not be handled (HTTP {status} {detail})",
    },
    "api.method_not_allowed": {
        "ja": "{path} に {method} は使えません",
        "en": "method {method} is not allowed on {path}",
    },
    "api.bad_query": {
        "ja": "{name}: {value} は true / false ではありません",
        "en": "{name}: {value} is not true or false",
    },
    "api.bad_query.twice": {
        "ja": "{name} が異なる値で2回以上指定されています: {values}",
        "en": "{name} was given more than once with different values: {values}",
    },
    "api.unreadable_request.gone": {
        "ja": "本文を送り終える前にクライアントが接続を閉じました",
        "en": "the client closed the connection before its body ended",
    },
    "api.unreadable_request.too_many_fields": {
        "ja": "multipart フォームの項目が多すぎます(上限 {n} 個)",
        "en": "the multipart form has too many fields (at most {n})",
    },
    "api.unreadable_request.too_many_files": {
        "ja": "multipart フォームのファイルが多すぎます(上限 {n} 個)",
        "en": "the multipart form has too many files (at most {n})",
    },
    "api.unreadable_request.part_too_large": {
        "ja": "multipart フォームの項目が大きすぎます(ファイル以外の項目は 1 つ {n} KB まで)",
        "en": "a field of the multipart form is too large (a field other than a file: at most {n} KB)",
    },
    "api.unreadable_request.no_name": {
        "ja": "multipart フォームに名前(Content-Disposition の name)のない項目があります",
        "en": "a part of the multipart form has no name (Content-Disposition name)",
    },
    "api.unreadable_request.no_boundary": {
        "ja": "multipart フォームの境界(Content-Type の boundary)が指定されていません",
        "en": "the multipart form names no boundary (Content-Type boundary)",
    },
    "api.unreadable_body": {
        "ja": "本文を読めません: Content-Type「{type}」の形式になっていません(multipart なら境界 boundary の指定と区切りを確かめてください)",
        "en": "the body cannot be read: it is not in the form its Content-Type '{type}' says"
        " (for multipart, check the boundary parameter and the delimiters)",
    },
    "api.unreadable_request.header_too_long": {
        "ja": "multipart フォームのパートのヘッダーが長すぎます(ファイル名が長すぎないか確かめてください)",
        "en": "a part of the multipart form has a header too long (check that the file name"
        " is not too long)",
    },
    "api.unreadable_request.too_many_headers": {
        "ja": "multipart フォームのパートのヘッダーが多すぎます",
        "en": "a part of the multipart form has too many headers",
    },
    "api.unreadable_request.bad_boundary": {
        "ja": "本文が Content-Type の境界(boundary)で区切られていません。境界の指定と本文の区切りが"
        "合っているか確かめてください",
        "en": "the body is not delimited by the boundary its Content-Type names: check that"
        " the boundary parameter and the delimiters in the body match",
    },
    "api.unreadable_request.encoded": {
        "ja": "Content-Encoding {coding} の本文は受け付けません。圧縮せずに送ってください",
        "en": "a body in Content-Encoding {coding} is not taken: send it uncompressed",
    },
    "api.unreadable_request.malformed": {
        "ja": "multipart フォームとして読めません。本文の形式を確かめてください",
        "en": "the body is not a readable multipart form: check its format",
    },
    "api.request_timeout": {
        "ja": "リクエストの本文が {seconds} 秒以上途切れたため、打ち切りました(api.client_timeout)",
        "en": "the request's body paused for more than {seconds} seconds, so it was cut off"
        " (api.client_timeout)",
    },
    "api.unreadable_request.truncated": {
        "ja": "multipart フォームが途中で切れています(終わりの境界 --境界-- まで届いていません)。"
        "本文を最後まで送ってください",
        "en": "the multipart form is cut short: the body ends before its closing boundary"
        " (--boundary--); send the whole body",
    },
    "api.missing_file": {
        "ja": "multipart のパート「{part}」に CSV がありません",
        "en": "no CSV in the multipart part '{part}'",
    },
    "api.missing_file.no_name": {
        "ja": "multipart のパート「{part}」にファイル名がありません。Content-Disposition に"
        ' filename="20240516.csv" のように書いてください(filename* は読みません)',
        "en": "the multipart part '{part}' has no file name: write it in its"
        ' Content-Disposition as filename="20240516.csv" (filename* is not read)',
    },
    "api.missing_file.others": {
        "ja": "multipart のパート「{part}」に CSV がありません(ファイルのパートは {files})",
        "en": "no CSV in the multipart part '{part}'; the request has file parts {files}",
    },
    "api.too_large": {
        "ja": "ファイルが {limit:,} バイトを超えています",
        "en": "the file is larger than {limit:,} bytes",
    },
    "api.unexpected_file": {
        "ja": "予期しないファイルのパート「{part}」があります",
        "en": "unexpected file part '{part}'",
    },
    "api.unexpected_file.repeated": {
        "ja": "パート「{part}」にファイルが {count} 個あります。1 回のリクエストで送れるファイルは 1 つです",
        "en": "part '{part}' holds {count:@file}; send one file per request",
    },
    "api.unexpected_file.text_too": {
        "ja": "パート「{part}」がファイルとテキストの項目の両方で送られています。"
        "「{part}」にはファイルだけを入れてください",
        "en": "part '{part}' is sent both as a file and as a text field; put the file alone"
        " under '{part}'",
    },
    "api.bad_settings.not_text": {
        "ja": "「{field}」は JSON を書いたテキストの項目にしてください",
        "en": "'{field}' must be a JSON text field",
    },
    "api.bad_settings.not_json": {
        "ja": "「{field}」は JSON として読めません({line}行 {column}文字目)",
        "en": "'{field}' is not JSON (line {line}, column {column})",
    },
    "api.bad_settings.too_deep": {
        "ja": "「{field}」の JSON は入れ子が深すぎます",
        "en": "the JSON of '{field}' is nested too deep",
    },
    "api.bad_settings.not_object": {
        "ja": "「{field}」は JSON オブジェクトにしてください",
        "en": "'{field}' must be a JSON object",
    },
    "api.bad_settings.not_plain": {
        "ja": "パラメーター「{name}」は単一の値にしてください",
        "en": "parameter '{name}' must be a plain value",
    },
    "api.unknown_parameter": {
        "ja": "このアカウントに対応付けのないパラメーターです: {names}",
        "en": "parameters this account does not map: {names}",
    },
    "api.bad_parameter_value": {
        "ja": "パラメーター {name}={value} には対応付けがありません。使える値: {allowed}",
        "en": "parameter {name}={value} is not mapped; allowed: {allowed}",
    },
    "api.spool_unavailable": {
        "ja": "いまはファイルを受け付けられません。しばらくしてから送り直してください",
        "en": "the spool cannot take files now",
    },
    "api.spool_unavailable.low_space": {
        "ja": "ディスクの空きが少ないため、いまはファイルを受け付けられません。しばらくしてから送り直してください",
        "en": "the disk is nearly full: no file is taken now; send it again later",
    },
    "api.spool_unavailable.send": {
        "ja": "送信を保存できないため、何も送信していません({cause})。この送信の実行は失敗として"
        "記録しました。しばらくしてから送り直してください",
        "en": "the send could not be spooled, so nothing was sent ({cause}); its run is"
        " recorded as failed. Try again later",
    },
    "api.send_needs_run": {
        "ja": '送信 {name} は取込のあとに、その取込の行を送る設定です(rows = "run")。'
        '取込がないため、送る行はありません。手動で送るには rows = "all" と where を'
        "使う送信設定にしてください",
        "en": 'send {name} sends the rows of the import that triggers it (rows = "run"):'
        " started with no import, it has no rows to send; to send by hand, use a send with"
        ' rows = "all" and where',
    },
    "api.spool_unavailable.not_running": {
        "ja": "受付が動いていません",
        "en": "intake is not running",
    },
    "api.store_unreachable": {
        "ja": "データベースに接続できないため、いまは処理できません。しばらくしてから試してください",
        "en": "the database cannot be reached now; try again later",
    },
    "api.store_trouble": {
        "ja": "データベースがいまは処理できません({cause})。しばらくしてから試してください",
        "en": "the database cannot do this now ({cause}); try again later",
    },
    "api.store_busy": {
        "ja": "データベースが別の処理に使われていて、待っても空かなかったため、いまは処理できません。"
        "しばらくしてから試してください",
        "en": "the database is held by other work and did not come free in time; try again"
        " in a while",
    },
    "console.error.store_busy": {
        "ja": "データベースが別の処理に使われていて、待っても空かなかったため、いまは処理できません。"
        "少し待ってから、結果を確かめてください(操作が済んでいることがあります)",
        "en": "the database is held by other work and did not come free in time; wait a"
        " little and check what came of it (the action may have been done)",
    },
    "console.error.store_unreachable": {
        "ja": "データベースに接続できないため、いまは表示できません。しばらくしてから開き直してください",
        "en": "the database cannot be reached now; open the page again in a little while",
    },
    "api.value_refused": {
        "ja": "データベースがこの値を受け付けません: {detail}",
        "en": "the database does not take this value: {detail}",
    },
    "api.account_unknown": {
        "ja": "アカウント {name} は設定にありません",
        "en": "account {name} is not in the config",
    },
    "api.value_refused.nul": {
        "ja": "NUL 文字(0x00、%00)はデータベースに入れられません。取り除いてください",
        "en": "a NUL character (0x00, %00) cannot go into the database: remove it",
    },
    "api.account_unknown.unread": {
        "ja": "実行 {run_id} のファイルは説明を読めずに脇に置かれたため、どのアカウントのものか"
        "分からず、再取込できません(spool/failed/ にあります)",
        "en": "run {run_id}'s file was set aside unread (its description could not be read):"
        " its account is not known, so it cannot be retried (it is in spool/failed/)",
    },
    "api.account_stopped": {
        "ja": "アカウント {name} は連動稼働停止中です",
        "en": "account {name} is stopped",
    },
    "api.no_ftp": {
        "ja": "アカウント {name} には確認する FTP 受付がありません",
        "en": "account {name} has no FTP intake to check",
    },
    "api.ftp_disabled": {
        "ja": "FTP 受付が止めてあります(ftp.enabled = false): アカウント {name} の FTP"
        " ホームは確認しません",
        "en": "FTP intake is off (ftp.enabled = false): account {name}'s FTP home is not checked",
    },
    "api.forbidden.admin_only": {
        "ja": "この操作には管理トークン(api.admin_token)が必要です",
        "en": "this needs the admin token (api.admin_token)",
    },
    "api.file_not_kept": {
        "ja": "実行 {run_id} の受信ファイルは保存されていません(保存期間 daemon.retention_days"
        " を過ぎて削除されたか、ファイルのない実行か、ファイルを保存しない以前の版が受け付けた実行です)",
        "en": "the file of run {run_id} is not kept (removed after daemon.retention_days,"
        " or the run held no file, or an older renkei that kept no files received it)",
    },
    "api.file_kept_elsewhere": {
        "ja": "実行 {run_id} の受信ファイルはインスタンス {instance} が保存しています。"
        "そのインスタンスの API から取り出してください",
        "en": "the file of run {run_id} is kept by instance {instance}: ask that instance's API",
    },
    "api.file_kept_elsewhere.retry": {
        "ja": "実行 {run_id} の受信ファイルはインスタンス {instance} が保存しています。"
        "そのインスタンスから再取込してください",
        "en": "the file of run {run_id} is kept by instance {instance}: retry it there",
    },
    "api.error_report_kept_elsewhere": {
        "ja": "実行 {run_id} のエラーCSVはインスタンス {instance} が保存しています。"
        "そのインスタンスの API から取り出してください",
        "en": "the error CSV of run {run_id} is kept by instance {instance}: ask that"
        " instance's API",
    },
    "api.run_is_send.errors_csv": {
        "ja": "実行 {run_id} は送信で、エラーCSVはありません(送ったリクエストと送信先の応答は"
        " GET /api/v1/runs/{run_id} にあります)",
        "en": "run {run_id} is a send, which has no error CSV (its requests and the"
        " receiver's answers are in GET /api/v1/runs/{run_id})",
    },
    "api.error_report_not_kept": {
        "ja": "実行 {run_id} のエラーCSVは保存されていません(保存期間を過ぎて削除されたか、"
        "data_dir から移動・削除されています)",
        "en": "the error CSV of run {run_id} is not kept (removed after daemon.retention_days,"
        " or moved or deleted from data_dir)",
    },
    "api.correction_imported": {
        "ja": "実行 {run_id} は訂正ファイル(エラーCSV)の取込で、その行は実行 {holder} で"
        "取り込まれています。再取込すると行が二重になります。先に取り消してください"
        "(renkei undo {holder})",
        "en": "run {run_id} imported a corrected error CSV, whose rows are in by run {holder}:"
        " imported again they would be there twice; undo it first (renkei undo {holder})",
    },
    "api.run_is_send": {
        "ja": "実行 {run_id} は送信で、受信ファイルを持たないため再取込できません。"
        "送り直すには送信を実行してください(POST /api/v1/sends/送信名、renkei send 送信名)",
        "en": "run {run_id} is a send, which keeps no file to import again; to send again,"
        " start the send (POST /api/v1/sends/NAME, renkei send NAME)",
    },
    "api.run_not_final": {
        "ja": "実行 {run_id} はまだ終わっていません(状態 {state})。終わってから再取込してください",
        "en": "run {run_id} has not finished (state {state}); retry it once it has",
    },
    "api.run_not_final.errors_csv": {
        "ja": "実行 {run_id} はまだ終わっていません(状態 {state})。エラーCSVは実行が終わってから取得できます",
        "en": "run {run_id} has not finished (state {state}); its error CSV can be had once it has",
    },
    "api.run_not_final.file": {
        "ja": "実行 {run_id} はまだ終わっていません(状態 {state})。受信ファイルは実行が終わってから取得できます",
        "en": "run {run_id} has not finished (state {state}); its file can be had once it has",
    },
    # -- undo (daemon/store/undo.py): the 409 refusals, said by the API and the CLI --
    "api.run_not_completed": {
        "ja": "実行 {run_id} は取込完了ではないため(状態 {state})、取り消せません",
        "en": "run {run_id} cannot be undone: it did not complete (state {state})",
    },
    "api.run_dry_run": {
        "ja": "実行 {run_id} は試行(dry run)で何も書き込んでいないため、取り消せません",
        "en": "run {run_id} cannot be undone: it was a dry run and wrote nothing",
    },
    "api.run_already_undone": {
        "ja": "実行 {run_id} は実行 {other} ですでに取り消されています",
        "en": "run {run_id} was already undone by run {other}",
    },
    "api.run_not_latest": {
        "ja": "実行 {run_id} は最新ではないため取り消せません: 後の実行が同じファイル"
        "(キー指定の取込ではアカウントの同じレイアウト)を変更しています。取り消せるのはその最新の実行 {other} だけです",
        "en": "run {run_id} cannot be undone: it is not the latest; later runs changed the same"
        " file (for keyed modes, the account's same layout), and only the latest of them,"
        " {other}, can be undone",
    },
    "api.send_not_undoable": {
        "ja": "実行 {run_id} は送信です。送った行は送信先にあり、renkei からは取り消せません",
        "en": "run {run_id} is a send: the rows it sent are the receiver's, and renkei cannot"
        " take them back",
    },
    "api.undo_not_kept": {
        "ja": "実行 {run_id} の取消に必要な変更前の行が残っていません(取消機能より前の実行、"
        "取消の実行、後の実行の取消で古くなった実行、または保存期間を過ぎた実行です)",
        "en": "run {run_id} cannot be undone: the rows it changed were not kept (a run from"
        " before undo, an undo itself, one a newer run superseded, or swept by retention)",
    },
    "api.run_rows_edited": {
        "ja": "実行 {run_id} は取り消せません: この実行が追加・更新・削除した行が、その後"
        "別の操作(レコードAPIや、データベースでの手作業による変更・作成・削除)で変わっています"
        "({other})。取り消すと"
        "同じキーの行が二重に残るか、取り消されない行が残ります。取り消す代わりに、行を"
        "レコードAPIで手で直すか、正しいファイルを取り込んでください",
        "en": "run {run_id} cannot be undone: rows it added, updated or deleted were changed"
        " since by something else (an edit, create or delete through the Records API or by"
        " hand in the database) ({other}); undoing"
        " it would leave two rows of one key or rows it did not take back. Instead, edit the"
        " rows back by hand through the Records API, or import a corrected file",
    },
    "undo.edited.keys": {
        "ja": "レイアウト {layout}、キー {keys}",
        "en": "layout {layout}, keys {keys}",
    },
    "undo.edited.rows": {
        "ja": "レイアウト {layout}、{count} 行",
        "en": "layout {layout}, {count:@row}",
    },
    "run.undo": {
        "ja": "実行 {run_id} を取り消しました: 削除 {deleted:,} 行、復元 {restored:,} 行",
        "en": "undid run {run_id}: {deleted:@row} removed, {restored:@row} restored",
    },
    "api.invalid_request": {
        "ja": "リクエストが正しくありません: {problems}",
        "en": "the request is not valid: {problems}",
    },
    "api.invalid.missing": {
        "ja": "{where}: 必須です",
        "en": "{where}: is required",
    },
    "api.invalid.int_parsing": {
        "ja": "{where}: {value} は整数ではありません",
        "en": "{where}: {value} is not a whole number",
    },
    "api.invalid.bool_parsing": {
        "ja": "{where}: {value} は true / false ではありません",
        "en": "{where}: {value} is not true or false",
    },
    "api.invalid.greater_than_equal": {
        "ja": "{where}: {value} は {limit} 以上にしてください",
        "en": "{where}: {value} is less than {limit}",
    },
    "api.invalid.less_than_equal": {
        "ja": "{where}: {value} は {limit} 以下にしてください",
        "en": "{where}: {value} is more than {limit}",
    },
    "api.invalid.datetime_parsing": {
        "ja": "{where}: {value} は日時(2024-05-16T09:00:00+09:00)ではありません",
        "en": "{where}: {value} is not a date and time (2024-05-16T09:00:00+09:00)",
    },
    "api.invalid.datetime_from_date_parsing": {
        "ja": "{where}: {value} は日付か日時(2024-05-16、2024-05-16T09:00:00+09:00)ではありません",
        "en": "{where}: {value} is not a date or a date and time"
        " (2024-05-16, 2024-05-16T09:00:00+09:00)",
    },
    "api.invalid.json_invalid": {
        "ja": "{where}: JSON として読めません",
        "en": "{where}: is not valid JSON",
    },
    "api.invalid.dict_type": {
        "ja": "{where}: JSON オブジェクト({{…}})にしてください",
        "en": "{where}: must be a JSON object ({{…}})",
    },
    "api.invalid.list_type": {
        "ja": "{where}: {value} は配列([…])ではありません",
        "en": "{where}: {value} is not an array ([…])",
    },
    "api.invalid.string_type": {
        "ja": "{where}: {value} は文字列ではありません",
        "en": "{where}: {value} is not a string",
    },
    "api.invalid.int_type": {
        "ja": "{where}: {value} は整数ではありません",
        "en": "{where}: {value} is not a whole number",
    },
    "api.invalid.int_from_float": {
        "ja": "{where}: {value} は整数ではありません(小数部があります)",
        "en": "{where}: {value} is not a whole number (it has a fraction)",
    },
    "api.invalid.bool_type": {
        "ja": "{where}: {value} は true / false ではありません",
        "en": "{where}: {value} is not true or false",
    },
    "api.invalid.float_type": {
        "ja": "{where}: {value} は数値ではありません",
        "en": "{where}: {value} is not a number",
    },
    "api.invalid.float_parsing": {
        "ja": "{where}: {value} は数値ではありません",
        "en": "{where}: {value} is not a number",
    },
    "api.invalid.extra_forbidden": {
        "ja": "{where}: 受け付けない項目です",
        "en": "{where}: is not a field this request takes",
    },
    "api.invalid.string_too_long": {
        "ja": "{where}: 長すぎます({limit} 文字まで)",
        "en": "{where}: is too long (at most {limit} characters)",
    },
    "api.invalid.too_long": {
        "ja": "{where}: 項目が多すぎます({limit} 個まで)",
        "en": "{where}: has too many items (at most {limit})",
    },
    "api.invalid.literal_error": {
        "ja": "{where}: {value} は使えません。使える値: {expected}",
        "en": "{where}: {value} is not allowed; expected {expected}",
    },
    "api.invalid.enum": {
        "ja": "{where}: {value} は使えません。使える値: {expected}",
        "en": "{where}: {value} is not allowed; expected {expected}",
    },
    "api.invalid.other": {"ja": "{where}: {detail}", "en": "{where}: {detail}"},
    # -- FTP replies: English (ASCII) until the client sends OPTS UTF8 ON (ftpsession.py)
    # -- pyftpdlib's own FTP replies, after OPTS UTF8 ON (handlers/ftpreplies.STOCK)
    "ftp.stock.utf8": {"ja": "UTF-8 で応答します。", "en": "Always in UTF8 mode."},
    "ftp.stock.binary": {"ja": "転送の形式をバイナリにしました。", "en": "Type set to: Binary."},
    "ftp.stock.ascii": {"ja": "転送の形式を ASCII にしました。", "en": "Type set to: ASCII."},
    "ftp.stock.allo": {"ja": "領域の確保は不要です。", "en": "No storage allocation necessary."},
    "ftp.stock.data_open": {
        "ja": "データ接続は開いています。転送を始めます。",
        "en": "Data connection already open. Transfer starting.",
    },
    "ftp.stock.data_opening": {
        "ja": "データ接続を開きます。",
        "en": "File status okay. About to open data connection.",
    },
    "ftp.stock.transferred": {"ja": "転送が完了しました。", "en": "Transfer complete."},
    "ftp.stock.goodbye": {"ja": "接続を終わります。", "en": "Goodbye."},
    "ftp.stock.logged_in": {"ja": "ログインしました。", "en": "Login successful."},
    "ftp.stock.password": {
        "ja": "ユーザー名を受け付けました。パスワードを送ってください。",
        "en": "Username ok, send password.",
    },
    "ftp.stock.rename_to": {
        "ja": "新しい名前を送ってください(RNTO)。",
        "en": "Ready for destination name.",
    },
    "ftp.stock.removed": {"ja": "ファイルを削除しました。", "en": "File removed."},
    "ftp.stock.renamed": {"ja": "名前を変更しました。", "en": "Renaming ok."},
    "ftp.stock.no_such_file": {
        "ja": "そのファイルまたはフォルダはありません。",
        "en": "No such file or directory.",
    },
    "ftp.stock.not_allowed": {
        "ja": "その操作はできません(権限がありません)。",
        "en": "Not enough privileges.",
    },
    "ftp.stock.too_long": {"ja": "コマンドが長すぎます。", "en": "Command too long."},
    "ftp.stock.bad_parameter": {
        "ja": "パラメーターが正しくありません。",
        "en": "Invalid parameter.",
    },
    "ftp.stock.user_first": {
        "ja": "先に USER でログインしてください。",
        "en": "Login with USER first.",
    },
    "ftp.stock.rnfr_first": {
        "ja": "先に RNFR で元の名前を送ってください。",
        "en": "Bad sequence of commands: use RNFR first.",
    },
    "ftp.too_big": {
        "ja": "ファイルが上限を超えたため転送を打ち切りました。",
        "en": "File exceeds the size limit; transfer aborted.",
    },
    "ftp.account_removed": {
        "ja": "このユーザーのアカウントは設定から外されたか、名前が変わりました。接続を閉じます。",
        "en": "This user's account was removed or renamed in the configuration; closing.",
    },
    "ftp.reset": {
        "ja": "転送中に接続が切れたため、ファイルを破棄しました。",
        "en": "Connection reset during the upload; the file was discarded.",
    },
    "ftp.no_data": {
        "ja": "データ接続がありません。PASV(または EPSV)で開き直してから送ってください。",
        "en": "No data connection; open one (PASV or EPSV) and try again.",
    },
    "ftp.no_passive_port": {
        "ja": "データ接続用のポートがすべて使用中です。しばらくしてからやり直してください。",
        "en": "Every data connection port is in use; try again later.",
    },
    "ftp.no_append": {
        "ja": "追記と途中再開はできません。ファイル全体を送ってください。",
        "en": "Append and restart are not supported; upload the whole file.",
    },
    "ftp.no_stou": {
        "ja": "STOU(サーバーが名前を付ける保存)は使えません。ファイル名を付けて STOR で送ってください。",
        "en": "STOU is not supported; upload the file with STOR and its name.",
    },
    "ftp.hidden_name": {
        "ja": "「.」で始まる名前は使えません。",
        "en": "Names starting with '.' are not accepted.",
    },
    "ftp.unseen_name": {
        "ja": "制御文字や書式文字({chars})を含む名前は使えません。",
        "en": "Names holding control or format characters ({chars}) are not accepted.",
    },
    "ftp.spaced_name": {
        "ja": "先頭や末尾に空白のある名前は使えません。空白を除いた名前で送ってください。",
        "en": "Names starting or ending with a space are not accepted; send it without them.",
    },
    "ftp.not_a_file": {
        "ja": "フォルダではなく、ホームフォルダ内のファイル名を指定してください。",
        "en": "Name a file in your home folder, not a folder.",
    },
    "ftp.long_name": {
        "ja": "名前が長すぎます({length} バイト)。{limit} バイト以内にしてください。",
        "en": "Names over {limit} bytes are not accepted (this one has {length}).",
    },
    "ftp.nul_path": {
        "ja": "パスに NUL 文字(U+0000)は使えません。",
        "en": "A path may not hold a NUL character (U+0000).",
    },
    "ftp.login_failed": {
        "ja": "ログインできません。ユーザー名とパスワードを確かめてください。",
        "en": "Authentication failed.",
    },
    "ftp.delete_failed": {
        "ja": "ファイルを削除できませんでした。しばらくしてからやり直してください。",
        "en": "The file could not be deleted; try again later.",
    },
    "ftp.rename_failed": {
        "ja": "ファイルの名前を変えられませんでした。しばらくしてからやり直してください。",
        "en": "The file could not be renamed; try again later.",
    },
    # -- the config (daemon/settings): each said after its key path ----------------
    "config.did_you_mean": {
        "ja": "。{near} の誤りではありませんか?",
        "en": "; did you mean {near}?",
    },
    "config.no_file": {"ja": "設定ファイルがありません", "en": "no such config file"},
    "config.is_folder": {
        "ja": "設定ファイルではなくフォルダです",
        "en": "a folder, not a config file",
    },
    "config.unreadable": {
        "ja": "設定ファイルを読めません: {detail}",
        "en": "cannot read the config file: {detail}",
    },
    "config.not_toml": {"ja": "TOML として読めません: {detail}", "en": "not valid TOML: {detail}"},
    # -- what TOML's parser says, in words (settings/tomlwords.TomlTrouble) ----------
    "toml.at": {
        "ja": "{line} 行 {column} 列目: {reason}",
        "en": "line {line}, column {column}: {reason}",
    },
    "toml.at_end": {"ja": "ファイルの終わり: {reason}", "en": "at the end of the file: {reason}"},
    "toml.overwrite": {
        "ja": "同じ値を二度設定しています",
        "en": "a value is set a second time",
    },
    "toml.immutable": {
        "ja": "{name} は既に書き終えた表か配列なので、ここで値を足せません",
        "en": "{name} is a table or array already written whole; nothing can be added to it here",
    },
    "toml.backslash": {
        "ja": "文字列の中の「\\」の後ろが使えない文字です(Windows のパスは '…' で囲むか「\\\\」と書きます)",
        "en": "a '\\' in a string escapes nothing it may (write a Windows path in '…' or with '\\\\')",
    },
    "toml.character": {
        "ja": "使えない文字 {name} があります",
        "en": "the character {name} is not allowed here",
    },
    "toml.array_table_end": {
        "ja": "[[…]] の終わりの「]]」がありません",
        "en": "the ']]' that ends an array of tables is missing",
    },
    "toml.table_end": {
        "ja": "[…] の終わりの「]」がありません",
        "en": "the ']' that ends a table's name is missing",
    },
    "toml.line_end": {
        "ja": "値の後ろに続きがあります(「キー = 値」は 1 行に一つです)",
        "en": "something follows the value (one 'key = value' to a line)",
    },
    "toml.equals": {"ja": "キーの後に「=」がありません", "en": "a key is not followed by '='"},
    "toml.expected": {"ja": "ここには {name} が必要です", "en": "{name} is expected here"},
    "toml.duplicate_key": {
        "ja": "{{ … }} の中にキー {name} が二度あります",
        "en": "the key {name} appears twice in one {{ … }}",
    },
    "toml.redefine": {"ja": "{name} を定義し直しています", "en": "{name} is defined again"},
    "toml.twice": {"ja": "{name} が二度あります", "en": "{name} is declared twice"},
    "toml.unterminated": {
        "ja": "文字列を閉じる引用符がありません",
        "en": "a string's closing quote is missing",
    },
    "toml.inline_unclosed": {
        "ja": "{{ … }} を閉じる「}}」がありません",
        "en": "the '}}' that closes a {{ … }} is missing",
    },
    "toml.array_unclosed": {
        "ja": "配列を閉じる「]」がありません",
        "en": "the ']' that closes an array is missing",
    },
    "toml.value": {
        "ja": '値として読めません(文字列は "…" で囲みます)',
        "en": 'not a value (a string is written in "…")',
    },
    "toml.statement": {
        "ja": "「キー = 値」でも「[表]」でもない行です",
        "en": "a line that is neither 'key = value' nor '[table]'",
    },
    "toml.key_start": {
        "ja": "キーの始まりに使えない文字です",
        "en": "a key cannot start with this character",
    },
    "toml.hex": {
        "ja": "\\u・\\U の後ろの16進数が正しくありません",
        "en": "the hex digits after \\u or \\U are wrong",
    },
    "toml.datetime": {"ja": "日付・日時として読めません", "en": "not a valid date or datetime"},
    "toml.scalar": {
        "ja": "エスケープした文字が Unicode の文字ではありません",
        "en": "an escaped character is not a Unicode character",
    },
    # -- the operating system's errors, by errno (settings/problems.OsTrouble) ------
    "os.denied": {"ja": "権限がありません", "en": "permission denied"},
    "tls.key_mismatch": {
        "ja": "鍵がこの証明書のものではありません(tls_key と tls_cert が対になっていません)",
        "en": "the key is not this certificate's (tls_key and tls_cert are no pair)",
    },
    "tls.not_pem": {
        "ja": "PEM 形式の証明書・鍵として読めません(空のファイル、別の形式、証明書と鍵の取り違え)",
        "en": "not readable as a PEM certificate or key (an empty file, another format, or"
        " the certificate and the key swapped)",
    },
    "tls.verify_failed": {
        "ja": "TLS の証明書を検証できません(期限切れ、名前の違い、信頼しない CA のいずれか)",
        "en": "the TLS certificate does not verify (expired, for another name, or signed by"
        " a CA not trusted)",
    },
    "tls.key_encrypted": {
        "ja": "鍵がパスフレーズで暗号化されています。パスフレーズなしの鍵にしてください"
        "(openssl pkey -in 鍵 -out 新しい鍵)",
        "en": "the key is encrypted with a passphrase: give it without one (openssl pkey -in"
        " KEY -out NEW_KEY)",
    },
    "tls.other": {"ja": "TLS のエラー: {text}", "en": "TLS error: {text}"},
    "relay.no_starttls": {
        "ja": 'リレーが STARTTLS に対応していません(report.tls = "required" は暗号化なしで送りません)',
        "en": 'the relay does not offer STARTTLS, which report.tls = "required" needs to send',
    },
    "relay.no_implicit_tls": {
        "ja": 'リレーが接続時に TLS で応答しません(report.tls = "implicit" は最初から TLS で話す'
        "リレー、通常はポート 465 のためのものです)。STARTTLS のリレーには"
        ' report.tls = "required" を使うか、リレーの TLS のポートを指定してください',
        "en": 'the relay did not answer TLS on connect (report.tls = "implicit" is for a relay'
        " that speaks TLS from the first byte, usually port 465): for a STARTTLS relay use"
        ' report.tls = "required", or give the relay\'s TLS port',
    },
    "relay.smtp_other": {
        "ja": "リレーとのやり取りのエラー: {text}",
        "en": "error talking to the relay: {text}",
    },
    "os.missing": {"ja": "見つかりません", "en": "not found"},
    "os.no_space": {"ja": "ディスクに空きがありません", "en": "no space left on the disk"},
    "os.read_only": {"ja": "読み取り専用のファイルシステムです", "en": "read-only file system"},
    "os.exists": {"ja": "同じ名前のものが既にあります", "en": "something of that name exists"},
    "os.not_folder": {
        "ja": "途中にフォルダーでないものがあります",
        "en": "a part of the path is not a folder",
    },
    "os.is_folder": {"ja": "ファイルではなくフォルダーです", "en": "a folder, not a file"},
    "os.io": {"ja": "ディスクの入出力エラーです", "en": "input/output error on the disk"},
    "os.name_too_long": {"ja": "名前が長すぎます", "en": "the name is too long"},
    "os.refused": {
        "ja": "接続を拒否されました(起動していないか、別のポートです)",
        "en": "connection refused (not running, or another port)",
    },
    "os.timed_out": {
        "ja": "応答がなく時間切れになりました",
        "en": "timed out waiting for an answer",
    },
    "os.unreachable": {
        "ja": "相手に届きません (ネットワーク)",
        "en": "cannot be reached (network)",
    },
    "os.reset": {"ja": "接続が切られました", "en": "the connection was reset"},
    "os.in_use": {
        "ja": "そのアドレスとポートは他のプロセスが使っています",
        "en": "another process is using that address and port",
    },
    "os.not_here": {
        "ja": "このマシンのアドレスではありません",
        "en": "not an address of this machine",
    },
    "os.other": {"ja": "システムのエラー {name}: {text}", "en": "system error {name}: {text}"},
    "os.no_such_host": {
        "ja": "そのホスト名は DNS で見つかりません",
        "en": "no such host name in DNS",
    },
    "os.resolver_down": {
        "ja": "DNS サーバーが応答せず、ホスト名を解決できません",
        "en": "the DNS server does not answer: the host name cannot be resolved now",
    },
    "dropdir.symlink": {
        "ja": "シンボリックリンクは取り込みません。ファイルそのものを置いてください",
        "en": "a symbolic link, never followed: put the file itself in the folder",
    },
    "dropdir.unreadable": {
        "ja": "ファイルを読めません({problem})。読めるようにすると取り込みます",
        "en": "the file cannot be read ({problem}); it is taken once it can be",
    },
    "config.unknown_key": {"ja": "不明なキーです", "en": "unknown key"},
    "config.missing": {"ja": "必須のキーがありません", "en": "required key is missing"},
    "config.not_one_of": {
        "ja": "{value} は {allowed} のいずれでもありません",
        "en": "{value} is not one of {allowed}",
    },
    "config.quoted.int": {
        "ja": "{value} は文字列です。数値は引用符を付けずに {bare} と書いてください",
        "en": "{value} is a string where a number belongs: write {bare}, without quotes",
    },
    "config.quoted.number": {
        "ja": "{value} は文字列です。数値は引用符を付けずに {bare} と書いてください",
        "en": "{value} is a string where a number belongs: write {bare}, without quotes",
    },
    "config.quoted.bool": {
        "ja": "{value} は文字列です。真偽値は引用符を付けずに {bare} と書いてください",
        "en": "{value} is a string where true or false belongs: write {bare}, without quotes",
    },
    "config.not.int": {"ja": "{value} は整数ではありません", "en": "{value} is not a whole number"},
    "config.not.number": {"ja": "{value} は数値ではありません", "en": "{value} is not a number"},
    "config.not.bool": {
        "ja": "{value} は true でも false でもありません",
        "en": "{value} is not true or false",
    },
    "config.string": {
        "ja": "{value} は文字列ではありません。引用符で囲んでください",
        "en": "{value} is not a string: write it in quotes",
    },
    "config.list": {
        "ja": "{value} はリストではありません。[ ] で囲んでください",
        "en": "{value} is not a list: write it in brackets, [ ]",
    },
    "config.table": {
        "ja": "{value} はテーブル([section] または {{ key = value }})ではありません",
        "en": "{value} is not a table ([section] or {{ key = value }})",
    },
    "config.path": {"ja": "{value} はパスではありません", "en": "{value} is not a path"},
    "config.at_least": {
        "ja": "{value} は {limit} 以上にしてください",
        "en": "{value} is less than {limit}, the least allowed",
    },
    "config.more_than": {
        "ja": "{value} は {limit} より大きくしてください",
        "en": "{value} must be more than {limit}",
    },
    "config.at_most": {
        "ja": "{value} は {limit} 以下にしてください",
        "en": "{value} is more than {limit}, the most allowed",
    },
    "config.too_short": {
        "ja": "少なくとも {limit} 個必要です",
        "en": "needs at least {limit:@item}",
    },
    "config.other": {"ja": "{value}: {detail}", "en": "{value}: {detail}"},
    "config.time_zone": {
        "ja": "{value} は既知のタイムゾーンではありません",
        "en": "{value} is not a known time zone",
    },
    "config.listen": {
        "ja": "{value} は host:port の形ではありません",
        "en": "{value} is not host:port",
    },
    "config.listen_host": {
        "ja": "{value} で待ち受けられません: {detail}",
        "en": "cannot listen on {value}: {detail}",
    },
    "config.listen_port": {
        "ja": "{value} のポート {port} は使えません。1〜65535 のポートを指定してください"
        "(0 ではシステムが空きポートを選び、どこで待ち受けるか分からなくなります)",
        "en": "{value}: port {port} cannot be used; give a port of 1 to 65535 (with 0 the"
        " system picks any free port, and no one knows where to connect)",
    },
    "config.port_range": {
        "ja": "{value} は 30000-30099 のようなポート範囲ではありません",
        "en": "{value} is not a port range like 30000-30099",
    },
    "config.address": {
        "ja": "{value} はメールアドレスではありません",
        "en": "{value} is not a mail address",
    },
    "config.store_url_option": {
        "ja": "store.url の接続オプションを PostgreSQL が受け付けません: {detail}",
        "en": "PostgreSQL does not take an option of store.url: {detail}",
    },
    "config.address_not_ascii": {
        "ja": "{value}: renkei が送るメールのアドレスは @ の前を ASCII で書いてください"
        "(日本語などの文字はリレーが SMTPUTF8 を受け付けるときしか送れません)。@ の後ろの"
        "日本語ドメインはそのまま使えます",
        "en": "{value}: write the part before the @ of an address renkei mails in ASCII"
        " (other characters go only through a relay that offers SMTPUTF8); a domain after"
        " the @ may be in Japanese",
    },
    "config.sender": {
        "ja": "{value} はメールアドレスでも @ドメイン でもありません",
        "en": "{value} is neither a mail address nor @domain",
    },
    "config.sender_wildcard": {
        "ja": "{value} の * はワイルドカードになりません(どの送信元にも一致しません)。"
        "ドメインのすべてのアドレスを許すには {suggestion} と書いてください",
        "en": "{value}: a * is no wildcard here and matches no sender; for every address"
        " of a domain write {suggestion}",
    },
    "config.window": {
        "ja": "{value} は 09:00-18:00 のような時間帯ではありません",
        "en": "{value} is not a window like 09:00-18:00",
    },
    "config.delay": {
        "ja": "{value} は 3m のような分単位の遅れ(120m 未満)ではありません",
        "en": "{value} is not a delay in minutes like 3m (under 120m)",
    },
    "config.expect_by": {
        "ja": "{value} は 10:00 のような時刻(00:00〜23:59)ではありません",
        "en": "{value} is not a time like 10:00 (00:00 to 23:59)",
    },
    "config.expect_day": {
        "ja": '{value} は月の日(1〜31)でも "last"(月末)でもありません',
        "en": '{value} is not a day of the month (1 to 31) nor "last"',
    },
    "config.expect_shape": {
        "ja": "weekdays(日次)か day(月次)のどちらか一方を書いてください",
        "en": "write either weekdays (daily) or day (monthly), not both and not neither",
    },
    # -- expected files ----------------------------------------------------------
    "expect.missing.subject": {
        "ja": "[renkei] 未着のお知らせ: {account} {day}",
        "en": "[renkei] file not received: {account} {day}",
    },
    "expect.missing.body": {
        "ja": "{account} の {day} 分のファイルが {by}({timezone})までに届いていません。\n"
        "その日のうちに届いて取り込まれれば、「届きました」とお知らせします。",
        "en": "No file of {account} for {day} had completed by {by} ({timezone}).\n"
        "If it arrives and is imported that same day, a note says so.",
    },
    "expect.missing.waiting": {
        "ja": "なお、{account} には取込待ちのファイルが {waiting} 件あります(FTP の確認時刻を"
        "待っているか、取込中)。それがこの日の分なら、取り込まれ次第お知らせします。",
        "en": "{account} has {waiting:@file} waiting to be imported (for its FTP check time,"
        " or being imported): if it is this day's, a note follows once it is imported.",
    },
    "expect.arrived.subject": {
        "ja": "[renkei] 届きました: {account} {day}",
        "en": "[renkei] file received: {account} {day}",
    },
    "expect.arrived.body": {
        "ja": "{account} の {day} 分のファイル {filename} が届き、{imported:,} 行を取り込みました"
        "(エラー {failed:,} 行、実行 {run})。",
        "en": "The file of {account} for {day}, {filename}, arrived: {imported:@row} imported,"
        " {failed:@row} with errors (run {run}).",
    },
    "cli.digest.none_wanted": {
        "ja": 'アカウント {name} はまとめメールを受け取りません(report = "{report}")。'
        'report を "digest" か "digest+errors" にすると、毎日のまとめを送ります',
        "en": 'account {name} takes no digest (report = "{report}"): set report to'
        ' "digest" or "digest+errors" for a daily digest',
    },
    "cli.expect.done": {
        "ja": "{now} 時点の確認: 未着 {missing} 件を通知、到着 {arrived} 件を通知しました",
        "en": "checked as of {now}: {missing:@missing file} alerted, {arrived:@arrival} noted",
    },
    # -- daily digest (daemon/report/digest.py) -------------------------------------
    "digest.subject": {
        "ja": "[renkei] 取込のまとめ: {account} {day} ({runs:,}件、エラー {errors:,}件)",
        "en": "[renkei] daily digest: {account} {day} ({runs:@run}, {errors:,} with errors)",
    },
    "digest.intro": {
        "ja": "{account} の {start} から {end} まで({timezone})に終わった取込 {runs:,} 件です。",
        "en": "{runs:@import} of {account} finished from {start} to {end} ({timezone}).",
    },
    "digest.state.completed": {"ja": "取込完了", "en": "imported"},
    "digest.state.partial": {"ja": "一部取込", "en": "partly imported"},
    "digest.state.none_imported": {
        "ja": "取込なし(全行エラー)",
        "en": "nothing imported (every row failed)",
    },
    "digest.state.failed": {"ja": "取込エラー", "en": "failed"},
    "digest.state.undo": {"ja": "取込取消(実行 {run} を取り消し)", "en": "undo (of run {run})"},
    "digest.errors.attached": {
        "ja": "エラーの行は添付の {name} をご覧ください。",
        "en": "The rows with errors are in the attached {name}.",
    },
    "digest.errors.download": {
        "ja": "エラーの行は {url} で取得できます(添付の上限を超えました)。",
        "en": "The rows with errors can be downloaded by {url} (too many to attach).",
    },
    "cli.digest.done": {
        "ja": "{now} 時点のまとめ: {sent} 通を送信待ちにしました",
        "en": "digests as of {now}: {sent} queued",
    },
    "config.url_path": {
        "ja": "{value} は /api/v1/csvimport のような URL パスではありません",
        "en": "{value} is not a URL path like /api/v1/csvimport",
    },
    "config.header_name": {
        "ja": "{value} は HTTP ヘッダーの名前ではありません(空白やコロンを含めず、英数字と"
        " !#$%&'*+-.^_`|~ で書きます。例: Authorization、X-Api-Token)",
        "en": "{value} is not an HTTP header name (no spaces or colons: letters, digits and"
        " !#$%&'*+-.^_`|~, like Authorization or X-Api-Token)",
    },
    "config.field_name": {
        "ja": "{value} はフォームの項目名になりません(空でなく、制御文字を含まない名前にしてください)",
        "en": "{value} is not a form field name (write a name, without control characters)",
    },
    "config.part_filename": {
        "ja": "{value} は送るファイルの名前になりません(空でなく、制御文字を含まない名前にしてください。"
        '例: "{{today}}.csv")',
        "en": "{value} is not a name for the file sent (write a name, without control"
        ' characters; e.g. "{{today}}.csv")',
    },
    "config.keyed_layout_unkeyed_mode": {
        "ja": "アカウント {account} はキー ({columns}) のあるレイアウト {layout} に {mode} で書き込みます。"
        "{mode} はキーを照合せずに行を加えるため、同じキーがもう一度届くと行が二つになり、"
        'その後の upsert・set・delete は両方に当たります。mode = "upsert" にしてください',
        "en": "account {account} writes layout {layout}, which has a key ({columns}), in mode"
        " {mode}: {mode} adds rows without matching their key, so a key sent again becomes a"
        ' second row, and a later upsert, set or delete matches both. Use mode = "upsert"',
    },
    "config.store_not_compared": {
        "ja": "レイアウトの列の型をデータベースのテーブルと照合できませんでした: {reason}"
        "(renkei serve は起動時と再読み込み時に照合します)",
        "en": "the layouts' column types were not compared with the database's tables:"
        " {reason} (renkei serve compares them when it starts and at each reload)",
    },
    "config.run_rows_other_account": {
        "ja": 'rows = "run" の送信はアカウント {account} の行だけを送るため、{name} の取込に続いても'
        "送る行がありません。after_import を {account} にするか、account を外してください",
        "en": 'a send of rows = "run" sends the rows of account {account} alone: after an'
        " import of {name} it has none to send; follow {account}, or remove account",
    },
    "config.run_rows_other_layout": {
        "ja": "アカウント {name} はレイアウト {theirs} に取り込むため、レイアウト {layout} の行を送る"
        ' rows = "run" の送信には、その取込の行がありません。{layout} に取り込むアカウントを'
        "指定してください",
        "en": 'account {name} imports into layout {theirs}: a send of rows = "run" of layout'
        " {layout} has none of its import's rows to send; follow an account of {layout}",
    },
    "config.table_not_renkeis": {
        "ja": "レイアウト {layout} のテーブルは renkei が作ったものではありません(renkei の列"
        " {missing} がありません)。手で作ったテーブルには取り込めません。別のレイアウト名にするか、"
        "テーブルの行を移してから削除し、renkei に作らせてください",
        "en": "the table of layout {layout} was not made by renkei (it lacks renkei's columns"
        " {missing}): files cannot be imported into a table made by hand; give the layout"
        " another name, or move the table's rows aside, drop it and let renkei make it",
    },
    "config.column_type_changed": {
        "ja": "列 {column} を {type} にできません: テーブルの列は {have} で、{want} の値を入れると"
        "これまでの値と混ざります。新しい列名にするか、テーブルを手で移してください",
        "en": "column {column} cannot become {type}: its table column is {have}, and {want}"
        " values would sit beside the old ones; give it a new name, or move the table by hand",
    },
    "config.layout_name_taken": {
        "ja": "レイアウト {layout} のテーブルを作れません: データベースに同じ名前の{kind}があります"
        "(設定から外したレイアウトのキーの索引など)。"
        "レイアウトを別の名前にするか、{kind}を手で削除してください",
        "en": "layout {layout} cannot have its table: the database has an object of that name"
        " ({kind}; such as the key index of a layout removed from the config); name the layout"
        " otherwise, or drop the {kind} by hand",
    },
    "config.layout_case_changed": {
        "ja": "レイアウト {layout} のテーブルはデータベースでは {have} です。PostgreSQL では大文字と小文字だけが"
        "違う名前は別のテーブルになり、これまでの行は {have} に残ります。レイアウト名を {have} に戻してください",
        "en": "layout {layout}'s table is {have} in the database: on PostgreSQL a name that"
        " differs in case alone is another table, and the rows stay in {have}; name the"
        " layout {have} again",
    },
    "config.key_index_taken": {
        "ja": "レイアウト {layout} のキーの索引 {index} を作れません: データベースに同じ名前の{kind}があります"
        "(設定から外したレイアウトのテーブルなど)。キーかレイアウト名を変えるか、{kind}を手で移してください",
        "en": "layout {layout}'s key index {index} cannot be made: the database has a {kind}"
        " of that name (such as a layout's removed from the config); change the key or the"
        " layout's name, or move the {kind} away by hand",
    },
    "config.key_index_elsewhere": {
        "ja": "レイアウト {layout} のキーの索引 {index} を作れません: テーブル {table} の索引が同じ名前です"
        "(キーで照合する取り込みが索引なしで動いてしまいます)。レイアウトかキーの列の名前を変えてください",
        "en": "layout {layout}'s key index {index} cannot be made: an index of table {table} has"
        " that name (keyed imports would run without their index); rename a layout or a key"
        " column",
    },
    "config.layout_kept": {
        "ja": "{layout} は renkei 自身のテーブル {table} のキーか行番号に PostgreSQL が付ける名前です。"
        "レイアウトを別の名前にしてください",
        "en": "{layout} is the name PostgreSQL gives a key or the row id of renkei's own table"
        " {table}; name the layout otherwise",
    },
    "config.layout_table_key": {
        "ja": "{layout} はテーブル {table} のキーか行番号に PostgreSQL が付ける名前です"
        "(そのテーブルに要るものです)。レイアウトを別の名前にしてください",
        "en": "{layout} is the name PostgreSQL gives a key or the row id of table {table},"
        " which that table needs; name the layout otherwise",
    },
    "db.kind.table": {"ja": "テーブル", "en": "table"},
    "db.kind.index": {"ja": "索引", "en": "index"},
    "db.kind.view": {"ja": "ビュー", "en": "view"},
    "db.kind.sequence": {"ja": "シーケンス", "en": "sequence"},
    "db.kind.object": {"ja": "オブジェクト", "en": "object"},
    "db.kind.trigger": {"ja": "トリガー", "en": "trigger"},
    "config.column_reserved": {
        "ja": "{value} はデータベースが自分の列に使う名前です(rowid, oid, ctid, xmin など)。"
        "別の列名にして、取引先のヘッダーの名前は label に書いてください(例: label = {value})",
        "en": "{value} is a name the database uses for a column of its own (rowid, oid, ctid,"
        " xmin, …); choose another name and put the header's in label, e.g. label = {value}",
    },
    "config.number_too_large": {
        "ja": "{value} は大きすぎます(上限 {limit})",
        "en": "{value} is too large (at most {limit})",
    },
    "config.column_name": {
        "ja": "{value} は列名に使えません。列名は英字で始め、英数字と _ だけで 63 文字まで"
        '書きます。取引先のヘッダーの名前は label に書いてください(例: label = "会員番号")',
        "en": "{value} is not a column name (a letter first, then letters, digits and _,"
        " 63 characters at most); put what the partner's header says in label, e.g."
        ' label = "会員番号"',
    },
    "config.column_underscore": {
        "ja": "{value} は _ で始まるので列名に使えません。_ で始まる名前は renkei 自身の列"
        "(_source_file など)のためのものです。英字で始めてください",
        "en": "{value} starts with _, which is kept for renkei's own columns (_source_file,"
        " …): start the name with a letter",
    },
    "config.format_type": {
        "ja": "format は date・datetime 列のためのもので、{type} 列には使えません",
        "en": "format is for date and datetime columns, not {type}",
    },
    "config.format": {
        "ja": "format {value} は日付の書式ではありません({detail})。YYYY、MM(または M)、"
        "DD(または D)、日時ならさらに HH、mm、ss で書いてください"
        "(例: YYYYMMDD、YYYY/MM/DD、YYYY年M月D日、YYYY/MM/DD HH:mm)",
        "en": "format {value} is not a date format ({detail}); write it with YYYY, MM (or M),"
        " DD (or D), and for a datetime HH, mm, ss: e.g. YYYYMMDD, YYYY/MM/DD, YYYY年M月D日,"
        " YYYY/MM/DD HH:mm",
    },
    "config.wareki": {
        "ja": "wareki は format のない date 列にだけ指定できます",
        "en": "wareki is for date columns without a format",
    },
    "config.header_clash": {
        "ja": "ヘッダー名 {text} が {one} と {other} の両方に当てはまります。"
        "列ごとに別の label と aliases を付けてください",
        "en": "header name {text} would match both {one} and {other}: give each column its"
        " own label and aliases",
    },
    "config.account_name": {
        "ja": "アカウント名 {value} は使えません。フォルダー名になるため、64 文字以内で、"
        "/ と \\ と制御文字を含まず、. で始まらない名前にしてください",
        "en": "{value} cannot be an account name: it names a folder, so keep it to 64"
        " characters, without / or \\ or control characters, not starting with .",
    },
    "config.layout_name": {
        "ja": "レイアウト名はテーブル名になります。英字で始め、英数字と _ で 63 文字までで書いてください",
        "en": "a layout name is a table name: a letter, then letters, digits and _, at most"
        " 63 characters",
    },
    "config.layout_case_twice": {
        "ja": "layouts.{other} と大文字・小文字だけが違う名前です(データベースでは同じテーブルになります)",
        "en": "differs from layouts.{other} only in case (the database would make them one table)",
    },
    "config.column_case_changed": {
        "ja": "テーブルの列は {have} です。大文字・小文字だけが違う名前は別の列にできません:"
        " {have} と書いてください",
        "en": "the table's column is {have}: a name that differs only in case cannot be"
        " another column; write {have}",
    },
    "config.layout_reserved": {
        "ja": "renkei 自身のテーブルの名前です",
        "en": "the name of one of renkei's own tables",
    },
    "config.unknown_layout": {
        "ja": "{value} はレイアウトではありません([layouts.{name}] がありません)",
        "en": "{value} is not a layout ([layouts.{name}] is missing)",
    },
    "config.unknown_account": {
        "ja": "{value} はアカウントではありません([accounts.{name}] がありません)",
        "en": "{value} is not an account ([accounts.{name}] is missing)",
    },
    "config.placeholder": {
        "ja": "{{{name}}} は埋め込めません({{run.id}} {{account}} {{file}} {{today}} "
        "{{part}} {{parts}}、呼び出しでは {{row.列名}} も使えます)",
        "en": "{{{name}}} is not a placeholder renkei fills in ({{run.id}} {{account}} "
        "{{file}} {{today}} {{part}} {{parts}}; calls also {{row.COLUMN}})",
    },
    "config.secret_twice": {
        "ja": "{name} と {name}_sha256 の両方があります。どちらでも受け付けるため、置き換えたつもりの"
        "古い方でも入れます。使わない方を削除してください",
        "en": "both {name} and {name}_sha256 are set: either is taken, so the one meant to be"
        " replaced still lets its holder in; remove the one not in use",
    },
    "config.param_is_file": {
        "ja": "パラメータ {name} は CSV の部分(file_field)と同じ名前です",
        "en": "parameter {name} has the name of the CSV part (file_field)",
    },
    "config.call_placeholder": {
        "ja": '{{{name}}} は埋め込めません。{accounts} の取込に続く per = "{per}" の呼び出しで'
        "使えるのは {allowed} です",
        "en": '{{{name}}} is not a placeholder renkei fills in here: a call of per = "{per}"'
        " following {accounts} can use {allowed}",
    },
    "config.call_placeholder_run": {
        "ja": '{{{name}}} は埋め込めません。{accounts} の取込に続く per = "run" の呼び出しで'
        "使えるのは {allowed} です。行の値は、json の中のオブジェクトを 1 つだけ入れたリスト"
        "(行ごとに繰り返されます)の中で使えます",
        "en": '{{{name}}} is not a placeholder renkei fills in here: a call of per = "run"'
        " following {accounts} can use {allowed}; a row's values go inside a list holding"
        " one object in json (repeated for each row)",
    },
    "config.url_port": {
        "ja": "{value} のポート {port} は使えません。1〜65535 のポートを指定してください",
        "en": "{value}: port {port} cannot be used; give a port of 1 to 65535",
    },
    "config.url": {
        "ja": "{value} は http:// または https:// で始まる URL ではありません",
        "en": "{value} is not a URL starting http:// or https://",
    },
    "config.password_hash": {
        "ja": "パスワードのハッシュではありません。renkei passwd で作った値を書いてください",
        "en": "not a password hash: write the value `renkei passwd` prints",
    },
    "config.admin_accounts": {
        "ja": "admin はすべてのアカウントを見ます。accounts は使われません",
        "en": "an admin sees every account; accounts is not used",
    },
    "config.user_no_accounts": {
        "ja": "accounts が空なので、このユーザーにはどのアカウントも見えません",
        "en": "accounts is empty, so this user sees no account",
    },
    "config.choice_values": {
        "ja": "choice 列には values が必要です",
        "en": "a choice column needs its values",
    },
    "config.choice_same_form": {
        "ja": "{value} は {other} と同じ値として照合されます(全角・半角と前後の空白は区別しません)。"
        "どちらか一方にしてください",
        "en": "{value} is matched as the same value as {other} (full-width and half-width"
        " forms and surrounding spaces are not told apart): keep one of them",
    },
    "config.set_value_choice": {
        "ja": "{value} は列 {column} の選択肢 {values} のいずれでもありません",
        "en": "{value} is not one of the values of column {column}: {values}",
    },
    "config.set_value_type": {
        "ja": "{value} は{problem}(列 {column} の値)",
        "en": "{value} {problem} (column {column})",
    },
    "config.set_value_required": {
        "ja": "列 {column} は必須のため、空の値は設定できません",
        "en": "column {column} is required: a set cannot empty it",
    },
    "config.set_value_key": {
        "ja": "{column} はキーの列です。set はキーで行を照合するため、キーの値は変えられません"
        "(変えると照合した行がすべて同じキーになります)",
        "en": "{column} is a key column: a set matches rows by their key and cannot change"
        " it (every row it matched would get the same key)",
    },
    "config.set_values_empty": {
        "ja": 'mode = "set" には set_values が必要です(キーで照合した行に書く値。'
        '例: set_values = {{ status = "停止" }})',
        "en": 'mode = "set" needs set_values (the values written into the rows its keys'
        ' match, e.g. set_values = {{ status = "stopped" }})',
    },
    "config.set_value_create": {
        "ja": "{value} は列 {column} の選択肢 {values} のいずれでもありません"
        '(on_unknown = "create" が覚えるのはファイルのセルの値で、set_values の値は'
        "覚えません。新しい値は列の values に書いてください)",
        "en": "{value} is not one of the values of column {column}: {values}"
        ' (on_unknown = "create" learns values from a file\'s cells, not from set_values:'
        " add a new value to the column's values)",
    },
    "config.key_column": {
        "ja": "{value} はこのレイアウトの列ではありません",
        "en": "{value} is not a column of the layout",
    },
    "config.not_column_of": {
        "ja": "{value} はレイアウト {layout} の列ではありません",
        "en": "{value} is not a column of layout {layout}",
    },
    "config.reference_no_key": {
        "ja": "レイアウト {layout} には照合に使うキー(key)がありません",
        "en": "layout {layout} declares no key to match on",
    },
    "config.mode_needs_key": {
        "ja": "{mode} にはキー列が必要です([layouts.{layout}] に key = [...] を書いてください)",
        "en": "{mode} needs key columns ([layouts.{layout}] key = [...])",
    },
    "config.token_header": {
        "ja": "/api/v1/imports はトークンを Authorization: Bearer で受け取ります。"
        "別のヘッダーを使うには、アカウントに専用の path を指定してください",
        "en": "/api/v1/imports takes the token as Authorization: Bearer; give the account"
        " its own path for another header",
    },
    "config.own_path": {
        "ja": "{value} は renkei 自身のパスです",
        "en": "{value} is one of renkei's own paths",
    },
    "config.pattern_needs_excel": {
        "ja": "{value} は Excel ブックの名前ですが、このアカウントは excel = true ではありません"
        "(そのままでは、この名前のファイルはすべて失敗します)。excel = true を書いてください",
        "en": "{value} names Excel workbooks, but this account has no excel = true (every"
        " file of that name would fail): add excel = true",
    },
    "config.no_filenames": {
        "ja": '[] ではどのファイルも受け付けません。パターンか "any" を書いてください',
        "en": '[] takes no file: give a pattern, or "any"',
    },
    "pattern.two_dates": {
        "ja": "日付の部分が {count} つあります({parts})。1 つにして、ほかは * と書いてください",
        "en": "holds {count} date parts ({parts}); a pattern takes one: write * where the"
        " other stands",
    },
    "pattern.empty": {
        "ja": "空です。{{YYYYMMDD}}.csv のような名前か any と書いてください",
        "en": "is empty: write a name such as {{YYYYMMDD}}.csv, or any",
    },
    "pattern.separator": {
        "ja": "パス区切り {separator} を含んでいます。パターンは {example} のような"
        "ファイル名だけです",
        "en": "holds a path separator {separator}: a pattern is a bare file name, such as"
        " {example}",
    },
    "pattern.braces": {
        "ja": "波かっこの対応が取れていません。日付の部分は {{YYYYMMDD}}、{{YYYYMM00}}、{{YYYYMM}} のいずれかで書きます",
        "en": "has unbalanced braces: a date part is written {{YYYYMMDD}}, {{YYYYMM00}} or {{YYYYMM}}",
    },
    "pattern.unknown_part": {
        "ja": "不明な日付の部分 {token} があります。{{YYYYMMDD}}、{{YYYYMM00}}、{{YYYYMM}} のいずれかで書いてください",
        "en": "has an unknown date part {token}: write {{YYYYMMDD}}, {{YYYYMM00}} or {{YYYYMM}}",
    },
    "pattern.unknown_part_near": {
        "ja": "不明な日付の部分 {token} があります。{{YYYYMMDD}}、{{YYYYMM00}}、{{YYYYMM}} のいずれかで書いてください。"
        "{fixed} のことですか?",
        "en": "has an unknown date part {token}: write {{YYYYMMDD}}, {{YYYYMM00}} or {{YYYYMM}}; did you mean {fixed}?",
    },
    "pattern.bare_date": {
        "ja": "{bare} が波かっこなしの文字として書かれています。日付の部分は {fixed} のように"
        "波かっこで囲んでください",
        "en": "holds {bare} as plain text: write the date part in braces, {fixed}",
    },
    "format.twice": {
        "ja": "{token} が 2 回あります",
        "en": "{token!r} appears twice",
    },
    "format.lacks": {
        "ja": "{parts} がありません",
        "en": "it lacks {parts}",
    },
    "config.bad_pattern": {
        "ja": "ファイル名パターン {value} は使えません: {detail}",
        "en": "{value} {detail}",
    },
    "config.taken": {
        "ja": "{value} は accounts.{owner} の {field} と同じです",
        "en": "{value} is also the {field} of accounts.{owner}",
    },
    "config.same_listen": {
        "ja": "{value} は {other} と同じアドレスです。リスナーごとに別のアドレスにしてください",
        "en": "{value} is also the address of {other}: each listener needs its own",
    },
    "config.passive_overlap": {
        "ja": "{value} は {other}({listen})のポートを含みます。パッシブポートの範囲は"
        "リスナーのポートと重ならないようにしてください",
        "en": "{value} holds the port of {other} ({listen}); the passive range must not"
        " overlap a listener's port",
    },
    "config.passive_ports_few": {
        "ja": "{value} のポートは {count} 個で、ftp.max_connections({sessions})より少なく"
        "なっています。同時に開けるデータ接続は {count} 本までで、それを超えたセッションの"
        "転送は 425 で断られます",
        "en": "{value} holds {count} ports, fewer than ftp.max_connections ({sessions}):"
        " at most {count} data connections can be open at once, and a session's transfer"
        " past that is refused with 425",
    },
    "config.same_dropdir": {
        "ja": "{value} は accounts.{owner} の受け取りフォルダと同じです",
        "en": "{value} is also the drop folder of accounts.{owner}",
    },
    "config.dropdir_in_data_dir": {
        "ja": "{value} は renkei 自身のフォルダ(data_dir {data_dir} か、その spool/ や files/ など)"
        "です。renkei が書いたファイルを取り込んでしまいます。data_dir の外か、{data_dir}/drop/ の下を"
        "指定してください",
        "en": "{value} is a folder of renkei's own (data_dir {data_dir}, or its spool/, files/,"
        " …): renkei would take its own files; choose a folder outside data_dir, or under"
        " {data_dir}/drop/",
    },
    "config.folder_cannot_make": {
        "ja": "フォルダー {path} を作れません({parent}: {detail})。renkei serve は起動時に"
        "作るので、作れるようにするか、先に作っておいてください",
        "en": "the folder {path} cannot be made ({parent}: {detail}); renkei serve makes it"
        " at start: make it possible, or make the folder beforehand",
    },
    "config.data_dir_not_folder": {
        "ja": "{path} はフォルダではなくファイルです。data_dir にはフォルダを指定してください",
        "en": "{path} is a file, not a folder; data_dir must be a folder",
    },
    "config.tls_cert_expired": {
        "ja": "{path} の証明書は {date} に期限が切れています。検証するクライアントはすべて接続を拒みます",
        "en": "the certificate {path} expired on {date}: every client that verifies it refuses"
        " to connect",
    },
    "config.tls_cert_expiring": {
        "ja": "{path} の証明書はあと {days} 日({date})で期限が切れます。更新してから再起動してください",
        "en": "the certificate {path} expires in {days} days ({date}): renew it, then restart",
    },
    "config.tls_key_open": {
        "ja": "鍵 {path} を他のユーザーも読めます(モード {mode})。chmod 600 {path} で閉じてください",
        "en": "the key {path} is readable by other users (mode {mode}): close it with chmod 600"
        " {path}",
    },
    "config.ftp_home_of_no_account": {
        "ja": "{path} に {count} 件のファイルがありますが、どのアカウントの FTP ホームでもありません"
        "(アカウントの名前を変えたか外したか)。取り込むアカウントのホームへ、..held- で始まる"
        "名前のもの(ls では見えません)も含めてすべて移してください",
        "en": "{path} holds {count:@file} but is no account's FTP home (an account renamed"
        " or removed?): move them all, those named ..held-… too (ls does not show them),"
        " into the home of the account that should import them",
    },
    "config.dropdir_not_folder": {
        "ja": "{path} はフォルダではなくファイルです。ドロップフォルダにはフォルダを指定してください",
        "en": "{path} is a file, not a folder; a drop folder must be a folder",
    },
    "config.dropdir_broken_link": {
        "ja": "{path} はループしているシンボリックリンクです(リンク先をたどると自分に戻ります)。"
        "ドロップフォルダにはフォルダを指定してください",
        "en": "{path} is a symbolic link round in a loop (following it leads back to it); a"
        " drop folder must be a folder",
    },
    "config.ftp_home_not_folder": {
        "ja": "{path} はフォルダではありません。FTP ホームはフォルダでなければなりません。"
        "そこにあるものを別の場所へ移してください",
        "en": "{path} is not a folder; the account's FTP home must be one: move what is there away",
    },
    "config.dropdir_in_ftp_home": {
        "ja": "{value} は accounts.{owner} の FTP ホーム({home})の中です。"
        "同じファイルを二つの経路で取り込むことになります",
        "en": "{value} is in the FTP home of accounts.{owner} ({home}): its files would"
        " be taken twice",
    },
    "config.env_unset": {
        "ja": "環境変数 {name} が設定されていません",
        "en": "environment variable {name} is not set",
    },
    "config.env_empty": {
        "ja": "環境変数 {name} が空です。空のトークン・パスワードは使えません",
        "en": "environment variable {name} is empty: an empty token or password cannot be used",
    },
    "config.demo_secret": {
        "ja": "デモ用の秘密情報は、すべてのリスナーがループバックにある間だけ使えます({listeners})",
        "en": "a demo secret is allowed only while every listener is on loopback ({listeners})",
    },
    "config.data_dir_open": {
        "ja": "{path} は他のユーザーも読めます(権限 {mode})。受け取ったファイルと取込先の"
        "データベースが置かれる場所です: chmod o-rwx {path} で閉じてください",
        "en": "{path} is open to other users (mode {mode}); the files received and the"
        " database live there: close it with chmod o-rwx {path}",
    },
    "config.expect_no_weekdays": {
        "ja": "空です。ファイルが届くはずの日がないため、届かない日の通知は出ません",
        "en": "empty: no day is one a file is due, so a missing file is never alerted",
    },
    "config.sheet_without_excel": {
        "ja": "excel = true でないため、このアカウントはブックを受け付けず、sheet は使われません",
        "en": "the account takes no workbook (excel is not true): sheet is never used",
    },
    "config.ftp_off": {
        "ja": "ftp.enabled = false なので、このアカウントの FTP ホームは確認されません",
        "en": "ftp.enabled = false: this account's FTP home is never checked",
    },
    "config.window_instant": {
        "ja": "開始と終了が同じ {at} なので、確認は 1 日 1 回 {at} だけです。終日なら"
        " 00:00-23:59 と書いてください",
        "en": "it starts and ends at {at}: one check a day, at {at}; for all day write 00:00-23:59",
    },
    "config.no_weekdays": {
        "ja": "空です。FTP のファイルは定期チェックでは取り込まれず、renkei poll か"
        "「今すぐチェック」のときだけ取り込まれます",
        "en": "empty: the FTP home is never checked on a schedule, only by renkei poll or"
        " the console's check now",
    },
    "config.report_from_account": {
        "ja": "{address} はアカウント {account} の受信アドレスです。レポートの不達通知や自動応答が"
        "renkei 自身に戻ります。受信アドレスのドメインとは別の、担当者が読むアドレスにしてください",
        "en": "{address} is account {account}'s own address: bounces and auto-replies to reports"
        " come back to renkei itself; use an address a person reads, outside the domain"
        " that receives the accounts' mail",
    },
    "config.report_from_account_domain": {
        "ja": "{address} はアカウント {account} の受信アドレス({account_address})と同じドメインです。"
        "そのドメインのメールが renkei に届くなら、レポートの不達通知はだれにも読まれません。"
        "担当者が読むアドレスにしてください",
        "en": "{address} is in the domain of account {account}'s address ({account_address}):"
        " if that domain's mail comes to renkei, no one reads the bounces of reports;"
        " use an address a person reads",
    },
    "config.no_senders": {
        "ja": "空です。このアカウントにはだれもメールを送れません。"
        "送信元のアドレスか @ドメイン を書いてください",
        "en": "empty: no one may send mail to this account; list the senders' addresses or @domain",
    },
    "config.ftp_home_local": {
        "ja": "FTP ホーム {path} はこのホストのローカルのファイルシステム({fstype})にあります。"
        "store.url で複数のインスタンスが動くときは、どのインスタンスの確認でも同じファイルが"
        "見えるよう、共有ストレージ(NFS など)に置いてください",
        "en": "the FTP homes {path} are on a local file system ({fstype}); with store.url"
        " shared by several instances, every instance's check must see the same files:"
        " put them on shared storage (NFS, CIFS, …)",
    },
    # -- command line (daemon/cli/) -----------------------------------------------
    "cli.config.invalid": {
        "ja": "{path}: 設定に {count} 件の問題があります:",
        "en": "{path}: the config has {count:@problem}:",
    },
    "cli.config.warnings": {
        "ja": "{path}: 設定に {count} 件の警告があります:",
        "en": "{path}: the config has {count:@warning}:",
    },
    "cli.check.ok": {
        "ja": "{path}: 問題ありません(アカウント {accounts} 件、レイアウト {layouts} 件)",
        "en": "{path}: ok ({accounts:@account}, {layouts:@layout})",
    },
    "cli.unknown_account": {
        "ja": "{name} は設定にあるアカウントではありません",
        "en": "{name} is not an account in the config",
    },
    "cli.serve.cannot_bind": {
        "ja": '起動できません: {setting} = "{listen}" で待ち受けられません({detail})',
        "en": 'cannot start: cannot listen on {setting} = "{listen}" ({detail})',
    },
    "cli.serve.cannot_start": {
        "ja": "起動できません: {detail}",
        "en": "cannot start: {detail}",
    },
    "cli.serve.already": {
        "ja": "別の renkei serve (pid {pid}) がこの data_dir ({path}) で動いています。"
        "それを止めるか、別の data_dir を指定してください",
        "en": "another renkei serve (pid {pid}) is running on this data_dir ({path});"
        " stop it, or give this one another data_dir",
    },
    "cli.no_such_file": {
        "ja": "{path}: ファイルがありません",
        "en": "{path}: no such file",
    },
    "cli.is_folder": {
        "ja": "{path}: フォルダです。取り込むファイルを指定してください",
        "en": "{path}: is a folder; name the file to import",
    },
    "cli.not_regular_file": {
        "ja": "{path}: 通常のファイルではありません(名前付きパイプやデバイスなど)。"
        "取り込むファイルを指定してください",
        "en": "{path}: not a regular file (a named pipe, a device, …); name the file to import",
    },
    "cli.unreadable_file": {
        "ja": "{path}: ファイルを読めません({detail})",
        "en": "{path}: cannot read the file ({detail})",
    },
    "cli.import.system_trouble": {
        "ja": "取り込めませんでした(システムのエラー: {detail})。行は取り込んでいません",
        "en": "could not import (a system error: {detail}); no row was imported",
    },
    "cli.import.cancelled": {
        "ja": "取込を中断しました。実行 {id} は失敗として記録し、行は取り込んでいません(もう一度取り込むには renkei import をやり直してください)",
        "en": "import cancelled: run {id} is recorded as failed and no row was imported (run renkei import again to import the file)",
    },
    "cli.interrupted": {
        "ja": "中断しました",
        "en": "interrupted",
    },
    "cli.output_lost": {
        "ja": "標準出力に書けませんでした({detail})。出力の一部またはすべてが失われています",
        "en": "could not write to standard output ({detail}): some or all of the output is lost",
    },
    "cli.output_closed": {"ja": "閉じられています", "en": "it is closed"},
    "cli.import.summary": {
        "ja": "実行 {id}: {state} ― {mode}{dry}、{counts}",
        "en": "run {id}: {state} — {mode}{dry}, {counts}",
    },
    "cli.dry_run": {"ja": "(試行のみ)", "en": " (dry run)"},
    "cli.import.not_forwarded": {
        "ja": "注意: {names} は、デーモンが取り込んだ後にだけ動きます。この取込では動いて"
        "いません。送信は renkei send NAME で送れます",
        "en": "note: {names} follow imports the daemon makes only, and did not run for this"
        " one; a send goes by hand with renkei send NAME",
    },
    "cli.errors.more": {"ja": "…ほか {n} 件", "en": "… and {n} more"},
    "cli.errors.more_cut": {"ja": "…ほか {n:,} 件以上", "en": "… and at least {n:,} more"},
    # How a command's own mail fared at its one try (daemon/cli/mailtry.py).
    "cli.mail.sent": {
        "ja": "{what}を送りました(宛先: {recipients})",
        "en": "{what} sent to {recipients}",
    },
    "cli.mail.sent_partly": {
        "ja": "{what}を送りました(宛先: {recipients})。リレーが受け取らなかった宛先: {answer}",
        "en": "{what} sent to {recipients}; the relay refused {answer}",
    },
    "cli.mail.sending": {
        "ja": "報告メールをリレー {relay} に渡しています…",
        "en": "handing the report mail to the relay {relay}…",
    },
    "cli.mail.waiting": {
        "ja": "{what}は今は送れません(リレー {relay}: {answer})。送信待ちとして残し、"
        "renkei serve が再送します",
        "en": "{what} not sent yet (relay {relay}: {answer}); it waits in the outbox and"
        " renkei serve retries it",
    },
    "cli.mail.refused": {
        "ja": "{what}はリレーに拒否されました({answer})。{folder} に保存しました",
        "en": "the relay refused the {what} ({answer}); it is kept in {folder}",
    },
    "cli.mail.queued": {
        "ja": "{what}は送信待ちです。renkei serve が送ります",
        "en": "{what} waits in the outbox; renkei serve sends it",
    },
    "cli.mail.report": {"ja": "報告メール", "en": "report mail"},
    "cli.mail.digest": {"ja": "まとめメール", "en": "digest mail"},
    "cli.mail.alert": {"ja": "通知メール", "en": "alert mail"},
    "cli.runs.id": {"ja": "実行ID", "en": "id"},
    "cli.runs.account": {"ja": "アカウント", "en": "account"},
    "cli.runs.channel": {"ja": "経路", "en": "channel"},
    "cli.runs.file": {"ja": "ファイル", "en": "file"},
    "cli.runs.state": {"ja": "状態", "en": "state"},
    "cli.runs.rows": {"ja": "行数", "en": "rows"},
    "cli.runs.imported": {"ja": "取込", "en": "ok"},
    "cli.runs.failed": {"ja": "エラー", "en": "failed"},
    "cli.runs.received": {"ja": "受付日時", "en": "received"},
    "cli.runs.none": {"ja": "該当する実行はありません", "en": "no runs"},
    "cli.runs.bad_since": {
        "ja": "--since: {value} は日付(2024-05-16)、日時(2024-05-16T09:00)、"
        "または 7d・12h・30m のような期間ではありません(いずれも {years} 年の範囲)",
        "en": "--since: {value} is not a date (2024-05-16), a time (2024-05-16T09:00)"
        " or a span such as 7d, 12h or 30m, within the years {years}",
    },
    "cli.runs.bad_state": {
        "ja": "--state: {value} ではなく {states} のいずれかを指定してください",
        "en": "--state: {value} is not one of {states}",
    },
    "cli.runs.bad_limit": {
        "ja": "--limit: {value} ではなく 1 から {most} までの数を指定してください",
        "en": "--limit: {value} is not a number from 1 to {most}",
    },
    "cli.show.unknown": {
        "ja": "{ref}: そのIDの実行はありません",
        "en": "{ref}: no run has that id",
    },
    "cli.show.ambiguous": {
        "ja": "{ref}: 複数の実行に当てはまります。IDをもう少し長く指定してください:",
        "en": "{ref} fits more than one run; give more of its id:",
    },
    "cli.show.state": {"ja": "状態", "en": "State"},
    "cli.show.report": {"ja": "報告メール", "en": "Report mail"},
    "cli.show.no_file": {
        "ja": "この実行はファイルを受け取っていません(送信か取消の実行です)",
        "en": "this run received no file (it is a send or an undo)",
    },
    "cli.show.more_candidates": {
        "ja": "…ほかにもあります(もっと長く指定してください)",
        "en": "… and more (give more of the id)",
    },
    "cli.show.report_to": {"ja": "報告メールの宛先", "en": "Report mail to"},
    "cli.show.report_tries": {"ja": "報告メールの送信試行(回)", "en": "Report mail tries"},
    "cli.show.relay_said": {"ja": "リレーの最後の応答", "en": "Relay's last answer"},
    "cli.show.size": {"ja": "サイズ", "en": "Size"},
    "cli.show.bytes": {"ja": "{n} バイト", "en": "{n} bytes"},
    "cli.show.sha256": {"ja": "SHA-256", "en": "SHA-256"},
    "cli.show.kept": {"ja": "保存先", "en": "Kept at"},
    "cli.show.not_kept": {
        "ja": "受信したファイルは保存されていません(保存期間を過ぎたか、ファイルのない実行です)",
        "en": "The received file is not kept (past daemon.retention_days, or the run held no file)",
    },
    "cli.show.kept_elsewhere": {
        "ja": "受信したファイルはインスタンス {instance} が保存しています(そのインスタンスの"
        " renkei show --save、API、コンソールから取り出せます)",
        "en": "The received file is kept by instance {instance} (take it there: renkei show"
        " --save, the API or the console)",
    },
    "cli.show.not_kept_yet": {
        "ja": "受信したファイルは取込待ちか取込中です(スプールにあります)。取込が終わると保存されます",
        "en": "The received file waits to be imported or is being imported (in the spool);"
        " it is kept once the run has ended",
    },
    "cli.show.not_kept_ignored": {
        "ja": "受信したファイルは保存されていません(停止中のアカウントに届いたファイルは捨てられます)",
        "en": "The received file is not kept (a file that came to a stopped account is discarded)",
    },
    "cli.show.retry_of": {"ja": "再取込元", "en": "Retry of"},
    "cli.show.undone_by": {"ja": "取消済み(取り消した実行)", "en": "Undone by"},
    "cli.show.undo_of": {"ja": "取消対象", "en": "Undo of"},
    "cli.show.error_csv": {"ja": "エラーCSV", "en": "Error CSV"},
    "cli.show.saved": {"ja": "{path} に保存しました", "en": "saved {path}"},
    "cli.show.save_not_folder": {
        "ja": "--save: {path} はフォルダではなく既にあるファイルです(上書きしません)",
        "en": "--save: {path} already exists and is not a folder (it is left as it is)",
    },
    "cli.show.save_failed": {
        "ja": "--save: {path} に保存できません: {detail}",
        "en": "--save: cannot save into {path}: {detail}",
    },
    "cli.send.bad_where": {
        "ja": "--where は 列名=値 の形で書いてください: {item}",
        "en": "write --where as COLUMN=VALUE: {item}",
    },
    "cli.send.where_twice": {
        "ja": "--where {column} が2回以上指定されています。1回だけ指定してください",
        "en": "--where {column} was given more than once; give it once",
    },
    "cli.send.started": {
        "ja": "送信 {name} を開始しました(実行ID {id})",
        "en": "send {name} started (run {id})",
    },
    "cli.passwd.no_terminal": {
        "ja": "パスワードを尋ねる端末がありません。パイプで渡すときは --stdin を付けてください",
        "en": "no terminal to ask the password at; give --stdin to pass it through a pipe",
    },
    "cli.passwd.prompt": {"ja": "パスワード: ", "en": "Password: "},
    "cli.passwd.again": {"ja": "もう一度: ", "en": "Again: "},
    "cli.passwd.mismatch": {
        "ja": "2 回の入力が一致しません",
        "en": "the two passwords differ",
    },
    "cli.passwd.short": {
        "ja": "パスワードは {n} 文字以上にしてください",
        "en": "a password needs at least {n} characters",
    },
    "cli.passwd.not_text": {
        "ja": "パスワードが {encoding} の文字として読めません(不正なバイトがあります)。"
        "{encoding} の文字で入力してください",
        "en": "the password is not {encoding} text (it holds bytes that are not): give it"
        " in {encoding}",
    },
    "cli.passwd.bad_name": {
        "ja": "{name}: ユーザー名が UTF-8 ではありません(設定ファイルに書けません)",
        "en": "{name}: the user name is not UTF-8 (a config file cannot hold it)",
    },
    "cli.poll.no_token": {
        "ja": "renkei poll には [api] の有効化と管理トークンが必要です: RENKEI_ADMIN_TOKEN"
        " を設定するか、設定に api.admin_token を書いてください(sha256 だけでは送れません)",
        "en": "renkei poll needs [api] enabled and the admin token: set RENKEI_ADMIN_TOKEN,"
        " or api.admin_token in the config (a sha256 alone cannot be sent)",
    },
    "cli.poll.unreachable": {
        "ja": "{host}:{port} のデーモンに接続できません: {detail}",
        "en": "cannot reach the daemon at {host}:{port}: {detail}",
    },
    "cli.remote.closed": {
        "ja": "デーモンが応答せずに接続を閉じました(停止中か再起動中かもしれません)",
        "en": "the daemon closed the connection without answering (stopping or restarting,"
        " perhaps)",
    },
    "cli.remote.timeout": {
        "ja": "60 秒待っても応答がありません",
        "en": "no answer within 60 seconds",
    },
    "cli.schedule.stopped": {
        "ja": "{name}: 停止中のため FTP の確認はしません(再開すると予定どおり確認します)",
        "en": "{name}: stopped, so its FTP home is not checked (started again, it is checked"
        " on its schedule)",
    },
    "alert.body.late": {
        "ja": "(この通知は、その時点では送れなかったため、原因が解消した今送っています)",
        "en": "(This alert could not be queued when it was due; it goes now that its cause has"
        " cleared.)",
    },
    "cli.poll.taken": {
        "ja": "{name}: {count} 件のファイルを取り込みに回しました",
        "en": "{name}: {count:@file} taken",
    },
    "cli.retry.no_token": {
        "ja": "renkei retry には [api] の有効化と管理トークンが必要です: RENKEI_ADMIN_TOKEN"
        " を設定するか、設定に api.admin_token を書いてください(sha256 だけでは送れません)",
        "en": "renkei retry needs [api] enabled and the admin token: set RENKEI_ADMIN_TOKEN,"
        " or api.admin_token in the config (a sha256 alone cannot be sent)",
    },
    "cli.retry.done": {
        "ja": "実行 {run} を再取込します: 新しい実行 {id}",
        "en": "run {run} retried as run {id}",
    },
    "cli.retry.pending": {
        "ja": "実行 {run} の再取込はすでに待っています: 実行 {id}",
        "en": "a retry of run {run} is already waiting: run {id}",
    },
    "cli.undo.done": {
        "ja": "実行 {run} を取り消しました(取消の実行 {id}): 削除 {deleted:,} 行、復元 {restored:,} 行",
        "en": "run {run} undone as run {id}: {deleted:@row} removed, {restored:@row} restored",
    },
    "cli.sweep.done": {
        "ja": "{before} より前に終わった実行 {runs} 件(受信ファイル {files} 件)と、"
        "送れなかった報告メール {mails} 件を削除しました(保存期間 {days} 日)",
        "en": "removed {runs:@run} finished before {before} ({files:@received file})"
        " and {mails:@failed report mail} (keeping {days:@day})",
    },
    "cli.sweep.bad_now": {
        "ja": "--now: {value} は日時(2024-05-16T09:00、時差なしは daemon.timezone)"
        "ではありません({years} 年の範囲)",
        "en": "--now: {value} is not a date or time (2024-05-16T09:00, in daemon.timezone"
        " unless it has an offset) within the years {years}",
    },
    "cli.schedule.no_ftp": {
        "ja": "accounts.{name}.ftp がありません: このアカウントに定期確認はありません",
        "en": "accounts.{name}.ftp is not set: the account has no scheduled checks",
    },
    "cli.schedule.ftp_disabled": {
        "ja": "FTP 受付が止めてあります(ftp.enabled = false): {name} の定期確認はありません",
        "en": "FTP intake is off (ftp.enabled = false): {name} has no scheduled checks",
    },
    "cli.schedule.poll_only": {
        "ja": "{name}: accounts.{name}.ftp.weekdays が空なので定期確認はありません。"
        "ファイルは renkei poll {name} か画面の「今すぐチェック」で取り込みます",
        "en": "{name}: accounts.{name}.ftp.weekdays is empty, so there are no scheduled"
        " checks; files are taken by renkei poll {name} or the console's check-now button",
    },
    "cli.schedule.head": {
        "ja": "{name}: {weekdays} {window}、{interval} ごと、各時刻の {delay} 後({timezone})",
        "en": "{name}: {weekdays} {window}, every {interval}, {delay} after each tick ({timezone})",
    },
    "cli.show.save_no_parent": {
        "ja": "--save: フォルダ {parent} がありません(作るのは {path} の最後のフォルダだけです)",
        "en": "--save: there is no folder {parent} (only the last folder of {path} is made)",
    },
    # -- the command line's help (daemon/cli/parser.py) ----------------------------
    "cli.help.description": {"ja": "CSV 連携デーモン", "en": "CSV linkage daemon"},
    "cli.help.version": {
        "ja": "renkei のバージョンを表示して終了します",
        "en": "print renkei's version and exit",
    },
    "cli.help.config": {
        "ja": "設定ファイル(既定は $RENKEI_CONFIG、なければ {default})",
        "en": "config file (default $RENKEI_CONFIG or {default})",
    },
    "cli.help.serve": {
        "ja": "デーモンをフォアグラウンドで動かします",
        "en": "run the daemon in the foreground",
    },
    "cli.help.check": {
        "ja": "設定を検証し、問題をすべてキーとともに示します",
        "en": "validate the config; list every problem with its key",
    },
    "cli.help.import": {
        "ja": "ファイルを 1 つ、デーモンと同じ処理で取り込みます",
        "en": "import one file through the daemon's pipeline",
    },
    "cli.help.import.file": {"ja": "CSV ファイル", "en": "the CSV file"},
    "cli.help.import.account": {
        "ja": "ファイルの属するアカウント",
        "en": "the account it belongs to",
    },
    "cli.help.import.dry_run": {
        "ja": "検証と件数の確認だけ: 行を書かず、メールも送りません",
        "en": "validate and count only: write no row, mail none",
    },
    "cli.help.json_run": {"ja": "実行を JSON で表示します", "en": "print the run as JSON"},
    "cli.help.runs": {
        "ja": "最近の実行を新しい順に表示します",
        "en": "show the latest runs, newest first",
    },
    "cli.help.runs.account": {"ja": "このアカウントの実行だけ", "en": "only this account's runs"},
    "cli.help.runs.state": {
        "ja": "この状態の実行だけ(completed、failed など)",
        "en": "only runs in this state (completed, failed, …)",
    },
    "cli.help.runs.channel": {
        "ja": "この経路で届いた実行だけ(mail、ftp など)",
        "en": "only runs that came by this channel (mail, ftp, …)",
    },
    "cli.help.runs.since": {
        "ja": "この時点以降に受け付けた実行だけ: 2024-05-16[T09:00]、または 7d・12h",
        "en": "only runs received since 2024-05-16[T09:00], or 7d, 12h",
    },
    "cli.help.runs.limit": {
        "ja": "表示する件数(既定 20、最大 {most})",
        "en": "how many runs (default 20, at most {most})",
    },
    "cli.help.runs.json": {
        "ja": "実行の JSON 配列を表示します",
        "en": "print a JSON array of runs",
    },
    "cli.help.show": {
        "ja": "実行を 1 件表示します: 件数、エラー、ファイル",
        "en": "show one run: its counts, errors and file",
    },
    "cli.help.run": {
        "ja": "実行ID、または renkei runs が示す短いID",
        "en": "the run's id, or its short id from `renkei runs`",
    },
    "cli.help.show.save": {
        "ja": "受信ファイルとエラーCSVをこのフォルダにコピーします(なければ作りますが、"
        "その親フォルダは作りません)",
        "en": "copy the kept file and the error CSV into this folder (made when missing;"
        " its parent must exist)",
    },
    "cli.help.retry": {
        "ja": "実行の保存ファイルを、新しい実行として取り込み直します",
        "en": "import a run's kept file again, as a new run",
    },
    "cli.help.undo": {
        "ja": "完了した実行による変更を、新しい実行として取り消します",
        "en": "take back what a completed run changed, as a new run",
    },
    "cli.help.sweep": {
        "ja": "daemon.retention_days より古いものを今すぐ削除します",
        "en": "remove what is older than daemon.retention_days now",
    },
    "cli.help.sweep.now": {
        "ja": "今ではなく、この日時(2024-05-16T09:00)の時点として削除します",
        "en": "sweep as of this time (2024-05-16T09:00) instead of now",
    },
    "cli.help.expect_check": {
        "ja": "まだ届かない予定ファイルを通知し、遅れて届いたものを記録します",
        "en": "alert expected files still missing; note late ones",
    },
    "cli.help.expect_check.now": {
        "ja": "今ではなく、この日時(2024-05-16T10:05)の時点として確認します",
        "en": "check as of this time (2024-05-16T10:05) instead of now",
    },
    "cli.help.digest": {
        "ja": "期限が来ていてまだ送っていない日次まとめをメールします",
        "en": "mail the daily digests due now and not yet sent",
    },
    "cli.help.digest.now": {
        "ja": "今ではなく、この日時(2024-05-16T18:01)の時点として送ります",
        "en": "as of this time (2024-05-16T18:01) instead of now",
    },
    "cli.help.digest.account": {
        "ja": "このアカウントのまとめだけ",
        "en": "only this account's digest",
    },
    "cli.help.poll": {
        "ja": "動いているデーモンに、アカウントの FTP ホームを今すぐ確認させます",
        "en": "ask the running daemon to check an account's FTP home now",
    },
    "cli.help.account": {"ja": "アカウント", "en": "the account"},
    "cli.help.send": {
        "ja": "動いているデーモンに [sends.NAME] を今すぐ送らせます",
        "en": "ask the running daemon to send [sends.NAME] now",
    },
    "cli.help.send.name": {"ja": "送信の名前", "en": "the send"},
    "cli.help.send.where": {"ja": "この値の行だけ", "en": "only rows with this value"},
    "cli.help.passwd": {
        "ja": "コンソールのパスワードを [users.NAME] 用のハッシュにします",
        "en": "hash a console password for [users.NAME]",
    },
    "cli.help.passwd.user": {
        "ja": "設定に貼り付ける [users.ユーザー名] の表を表示します",
        "en": "print a [users.USER] table to paste into the config",
    },
    "cli.help.passwd.stdin": {
        "ja": "パスワードを標準入力から読みます",
        "en": "read the password from standard input",
    },
    "cli.help.schedule": {
        "ja": "アカウントの次の FTP 確認の時刻を表示します",
        "en": "show an account's next FTP checks",
    },
    "cli.help.schedule.count": {"ja": "表示する回数(既定 5)", "en": "how many checks (default 5)"},
    # The words standing for an option's value in the usage line and the help.
    "cli.metavar.command": {"ja": "コマンド", "en": "COMMAND"},
    "cli.metavar.path": {"ja": "パス", "en": "PATH"},
    "cli.metavar.file": {"ja": "ファイル", "en": "FILE"},
    "cli.metavar.name": {"ja": "名前", "en": "NAME"},
    "cli.metavar.state": {"ja": "状態", "en": "STATE"},
    "cli.metavar.channel": {"ja": "経路", "en": "CHANNEL"},
    "cli.metavar.when": {"ja": "日時", "en": "WHEN"},
    "cli.metavar.count": {"ja": "件数", "en": "N"},
    "cli.metavar.run": {"ja": "実行ID", "en": "RUN"},
    "cli.metavar.folder": {"ja": "フォルダ", "en": "DIR"},
    "cli.metavar.column_value": {"ja": "列名=値", "en": "COLUMN=VALUE"},
    "cli.metavar.user": {"ja": "ユーザー名", "en": "USER"},
    # argparse's own words (daemon/cli/parser.py ARGPARSE_WORDS). argparse fills the
    # placeholders itself after this: a literal percent sign would have to be %%.
    "cli.argparse.usage": {"ja": "使い方: ", "en": "usage: "},
    "cli.argparse.positionals": {"ja": "引数", "en": "positional arguments"},
    "cli.argparse.options": {"ja": "オプション", "en": "options"},
    "cli.argparse.help": {
        "ja": "このヘルプを表示して終了します",
        "en": "show this help message and exit",
    },
    "cli.argparse.error": {"ja": "{prog}: エラー: {message}\n", "en": "{prog}: error: {message}\n"},
    "cli.argparse.argument": {
        "ja": "引数 {argument_name}: {message}",
        "en": "argument {argument_name}: {message}",
    },
    "cli.argparse.unrecognized": {
        "ja": "解釈できない引数があります: {what}",
        "en": "unrecognized arguments: {what}",
    },
    "cli.argparse.required": {
        "ja": "次の引数を指定してください: {what}",
        "en": "the following arguments are required: {what}",
    },
    "cli.argparse.expected_one": {"ja": "値を 1 つ指定してください", "en": "expected one argument"},
    "cli.argparse.expected_at_most_one": {
        "ja": "値は 1 つまでです",
        "en": "expected at most one argument",
    },
    "cli.argparse.expected_at_least_one": {
        "ja": "値を 1 つ以上指定してください",
        "en": "expected at least one argument",
    },
    "cli.argparse.invalid_value": {
        "ja": "{value} は{type}ではありません",
        "en": "invalid {type} value: {value}",
    },
    "cli.argparse.integer": {"ja": "整数", "en": "integer"},
    "cli.argparse.invalid_choice": {
        "ja": "{value} はありません({choices} のいずれかを指定してください)",
        "en": "invalid choice: {value} (choose from {choices})",
    },
    "cli.argparse.ambiguous": {
        "ja": "{option} は {matches} のどれのことか決められません",
        "en": "ambiguous option: {option} could match {matches}",
    },
    "cli.argparse.ignored_explicit": {
        "ja": "このオプションは値をとりません: {what}",
        "en": "ignored explicit argument {what}",
    },
    "cli.argparse.not_allowed_with": {
        "ja": "{what} と同時には指定できません",
        "en": "not allowed with argument {what}",
    },
    "cli.argparse.one_required": {
        "ja": "{what} のいずれかを指定してください",
        "en": "one of the arguments {what} is required",
    },
    # -- the Records API (daemon/web/records.py): a field's problem names its label --
    "records.required": {"ja": "{label}は必須です", "en": "{label} is required"},
    "records.max_length": {
        "ja": "{label}は{limit}文字以下で入力してください",
        "en": "{label} must be at most {limit} characters",
    },
    "records.int": {
        "ja": "{label}は整数で入力してください",
        "en": "{label} must be a whole number",
    },
    "records.decimal": {
        "ja": "{label}は数値で入力してください",
        "en": "{label} must be a number",
    },
    "records.int_range": {
        "ja": "{label}が大きすぎます(±9223372036854775807 まで)",
        "en": "{label} is too large (at most ±9223372036854775807)",
    },
    "records.max_digits": {
        "ja": "{label}は{limit}桁以下で入力してください",
        "en": "{label} must have at most {limit} digits",
    },
    "records.date": {
        "ja": "{label}は日付(YYYY/MM/DD、YYYY-MM-DD、YYYYMMDD、YYYY年M月D日)で入力してください",
        "en": "{label} must be a date (YYYY/MM/DD, YYYY-MM-DD, YYYYMMDD or YYYY年M月D日)",
    },
    "records.date_wareki": {
        "ja": "{label}は日付(YYYY/MM/DD、YYYYMMDD、令和6年5月16日、R6.5.16 など)で入力してください",
        "en": "{label} must be a date (YYYY/MM/DD, YYYYMMDD, 令和6年5月16日, R6.5.16, …)",
    },
    "records.date_unreal": {
        "ja": "{label}は存在しない日付です",
        "en": "{label} is a date that does not exist",
    },
    "records.format": {
        "ja": "{label}は {format} の形式で入力してください",
        "en": "{label} must be in the format {format}",
    },
    "records.datetime": {
        "ja": "{label}は日時(YYYY/MM/DD HH:MM[:SS])で入力してください",
        "en": "{label} must be a date and time (YYYY/MM/DD HH:MM[:SS])",
    },
    "records.datetime_unreal": {
        "ja": "{label}は存在しない日時です",
        "en": "{label} is a date and time that does not exist",
    },
    "records.bool": {
        "ja": "{label}は真偽値(1/0、true/false)で入力してください",
        "en": "{label} must be yes or no (1/0, true/false)",
    },
    "records.choice": {
        "ja": "{label}は {values} のいずれかを選んでください",
        "en": "{label} must be one of {values}",
    },
    "records.invalid": {"ja": "{label}: {problem}", "en": "{label}: {problem}"},
    "records.reference": {
        "ja": "{label}の「{value}」は{layout}の{key_column}にありません",
        "en": "{label} {value} is not a {key_column} in {layout}",
    },
    "records.nul": {
        "ja": "{label}に NUL 文字(U+0000)は使えません",
        "en": "{label} may not hold a NUL character (U+0000)",
    },
    "records.too_large": {
        "ja": "{label}の数値が大きすぎます(無限大として読まれます)",
        "en": "{label} is a number too large to hold (it reads as infinity)",
    },
    "records.not_a_value": {
        "ja": "{label}は文字列か数値で指定してください",
        "en": "{label} must be a text or a number",
    },
    "records.unknown_column": {
        "ja": "{label}という項目はありません",
        "en": "there is no column {label}",
    },
    "records.key_fixed": {
        "ja": "{label}はキーのため変更できません",
        "en": "{label} is part of the key and cannot be changed",
    },
    "records.account_fixed": {
        "ja": "{label}(レコードのアカウント)は変更できません",
        "en": "{label} (the record's account) cannot be changed",
    },
    "records.account_required": {
        "ja": "管理トークンで作成するときは {label} にアカウント名を指定してください",
        "en": "with the admin token, give the new record's account in {label}",
    },
    "records.unknown_account": {
        "ja": "{label}: アカウント {name} はありません",
        "en": "{label}: there is no account {name}",
    },
    "records.other_account": {
        "ja": "{label}: このトークンで扱えるのはアカウント {name} のレコードだけです",
        "en": "{label}: this token handles the records of account {name} only",
    },
    "records.invalid_record": {
        "ja": "入力内容に誤りがあります: {problems}",
        "en": "the record is not valid: {problems}",
    },
    "records.not_found.layout": {
        "ja": "レイアウト {layout} はありません",
        "en": "there is no layout {layout}",
    },
    "records.not_found.record": {
        "ja": "レイアウト {layout} にキー「{record}」のレコードはありません",
        "en": "layout {layout} has no record with key '{record}'",
    },
    "records.no_key": {
        "ja": "レイアウト {layout} にはキー(key)がないため、レコードを1件ずつ指定できません",
        "en": "layout {layout} has no key, so its records cannot be named one by one",
    },
    "records.no_key.create": {
        "ja": "レイアウト {layout} にはキー(key)がないため、API でレコードを作れません"
        "(作ったレコードを後から指定できず、再送すると二重になります)。ファイルの取込で送ってください",
        "en": "layout {layout} has no key, so the API creates no record in it (one made could"
        " never be named again, and a retry would make it twice): send it in a file",
    },
    "records.duplicate_key": {
        "ja": "キー「{record}」のレコードはすでにあります(レイアウト {layout})",
        "en": "a record with key '{record}' exists already (layout {layout})",
    },
    "records.ambiguous_key.accounts": {
        "ja": "キー「{record}」のレコードが複数のアカウントにあります。account= でアカウントを指定してください(レイアウト {layout})",
        "en": "several accounts hold a record with key '{record}' (layout {layout});"
        " name one with account=",
    },
    "records.ambiguous_key.rows": {
        "ja": "キー「{record}」のレコードが複数あるため、1件に決まりません(レイアウト {layout})",
        "en": "several records have key '{record}' (layout {layout}), so none can be named alone",
    },
    "records.unknown_search": {
        "ja": "search[{column}]: レイアウト {layout} にその項目はありません",
        "en": "search[{column}]: layout {layout} has no such column",
    },
    "records.unknown_sort": {
        "ja": "sort[{column}]: レイアウト {layout} にその項目はありません",
        "en": "sort[{column}]: layout {layout} has no such column",
    },
    "records.bad_sort": {
        "ja": "sort[{column}] は asc か desc で指定してください(「{value}」ではなく)",
        "en": "sort[{column}] must be asc or desc, not '{value}'",
    },
    "api.send_bad_where": {
        "ja": "where[{column}]: {value} は使えません: {problem}",
        "en": "where[{column}]: {value} cannot be used: {problem}",
    },
    "records.search_not_form": {
        "ja": "検索条件はフォーム(application/x-www-form-urlencoded)で送ってください。{sent} の本文は読めません",
        "en": "send the search as a form (application/x-www-form-urlencoded); a {sent} body is not read",
    },
    "records.search_no_type": {
        "ja": "検索条件はフォーム(application/x-www-form-urlencoded)で送ってください。"
        "Content-Type のない本文は読めません",
        "en": "send the search as a form (application/x-www-form-urlencoded); a body"
        " without a Content-Type is not read",
    },
    "records.search_field": {
        "ja": "{field} は検索の項目として読めません(search[列名] か search[列名][from]・[to]、"
        "sort[列名] の形で指定してください)",
        "en": "{field} is no search field (write search[column], search[column][from] or"
        " [to], or sort[column])",
    },
    "records.bad_search": {
        "ja": "search[{column}]: {problem}",
        "en": "search[{column}]: {problem}",
    },
    "records.search_range": {
        "ja": "search[{column}][{op}]: from と to は日付・日時・数値の項目にだけ使えます",
        "en": "search[{column}][{op}]: from and to apply to date, datetime and number columns only",
    },
    "records.search_op": {
        "ja": "search[{column}][{op}]: 使えるのは [from] と [to] です",
        "en": "search[{column}][{op}]: only [from] and [to] are known",
    },
    "records.search_twice": {
        "ja": "search[{column}] が2回以上指定されています。1回だけ指定してください",
        "en": "search[{column}] was given more than once; give it once",
    },
    "records.search_in_query": {
        "ja": "POST …/search は条件をフォームから読みます。クエリー文字列の {field} は読みません。"
        "フォームで送るか、GET で検索してください",
        "en": "POST …/search reads its conditions from the form, not {field} in the query"
        " string: send it in the form, or search with GET",
    },
    "records.field_twice": {
        "ja": "{label} が2回以上指定されています。1回だけ指定してください",
        "en": "{label} was given more than once; give it once",
    },
    "records.given_twice": {
        "ja": "{field} が2回以上指定されています。1回だけ指定してください",
        "en": "{field} was given more than once; give it once",
    },
    "records.too_many_searches": {
        "ja": "search[…] は1回の検索で {limit} 個までです",
        "en": "a search takes at most {limit} search[…] fields",
    },
    "records.sort_twice": {
        "ja": "sort[{column}] が2回以上指定されています。1回だけ指定してください",
        "en": "sort[{column}] was given more than once; give it once",
    },
    "records.too_many_sorts": {
        "ja": "sort[…] は1回の検索で {limit} 個までです",
        "en": "a search takes at most {limit} sort[…] fields",
    },
    # -- encrypted transport (config checks; daemon/settings/checks.py) -------------
    "config.tls_needs_cert": {
        "ja": "TLS を必須にするには {cert} (証明書) が必要です",
        "en": "requiring TLS needs {cert} (a certificate)",
    },
    "config.tls_key_alone": {
        "ja": "鍵だけでは使えません。{cert} (証明書) も書いてください",
        "en": "a key alone is of no use; set {cert} (the certificate) too",
    },
    "config.tls_file": {
        "ja": "証明書・鍵・CA のファイルが使えません: {detail}",
        "en": "the certificate, key or CA file cannot be used: {detail}",
    },
    "config.login_needs_tls": {
        "ja": 'リレーへのログインには report.tls = "required" か "implicit" が必要です'
        "(パスワードを平文で送らないため)",
        "en": 'a relay login needs report.tls = "required" or "implicit":'
        " a password never goes in clear",
    },
    "config.password_alone": {
        "ja": "report.user がないので、パスワードは使われません",
        "en": "a password without report.user is never used",
    },
    "ftp.tls_control": {
        "ja": "先に AUTH TLS で暗号化してください。",
        "en": "Use AUTH TLS first: this server takes no login in clear.",
    },
    "ftp.tls_data": {
        "ja": "先に PBSZ 0 と PROT P でデータ接続を暗号化してください。",
        "en": "Use PBSZ 0 and PROT P first: data connections must be encrypted.",
    },
    # -- sender authentication at the mail door (handlers/mailauth.py) -------------
    "store.unreachable": {
        "ja": "データベース {url} に接続できません: {error}",
        "en": "cannot reach the database {url}: {error}",
    },
    "store.unreadable": {
        "ja": "データベース {path} を読めません: {error}",
        "en": "cannot read the database {path}: {error}",
    },
    "store.sqlite.damaged": {
        "ja": "データベースのファイルではないか、壊れています",
        "en": "not a database file, or a damaged one",
    },
    "store.sqlite.no_folder": {
        "ja": "フォルダー {folder} がありません",
        "en": "the folder {folder} does not exist",
    },
    "store.sqlite.folder": {
        "ja": "フォルダー {folder} に書き込めません({detail})",
        "en": "cannot write in the folder {folder} ({detail})",
    },
    "store.sqlite.file": {
        "ja": "ファイルを読み書きできません({detail})",
        "en": "the file cannot be read and written ({detail})",
    },
    "store.sqlite.cannot_open": {
        "ja": "ファイルを開けません",
        "en": "the file cannot be opened",
    },
    "store.pg.login": {
        "ja": "ログインできません(ユーザー名かパスワードが違います)",
        "en": "the login failed (a wrong user name or password)",
    },
    "store.pg.no_db": {
        "ja": "そのデータベースはサーバーにありません",
        "en": "the server has no database of that name",
    },
    "store.env_unset": {
        "ja": "store.url の環境変数 {name} が設定されていません",
        "en": "store.url: the environment variable {name} is not set",
    },
    "config.store_url": {
        "ja": "{value} は PostgreSQL の URL(postgresql://user@host/db)でも env:NAME でもありません",
        "en": "{value} is neither a PostgreSQL URL (postgresql://user@host/db) nor env:NAME",
    },
    "config.store_url_scheme": {
        "ja": "libpq は {scheme}:// を URL と読みません(大文字と小文字を区別します): postgresql://"
        " と小文字で書いてください",
        "en": "libpq does not read {scheme}:// as a URL (it tells upper from lower case): write"
        " postgresql:// in lower case",
    },
    "config.store_url_spaces": {
        "ja": "URL に空白があります。libpq は空白のある URL を読みません: 空白は %20 と書いてください",
        "en": "the URL holds a space, which libpq does not read: write a space as %20",
    },
    "config.store_url_env_spaces": {
        "ja": "環境変数 {name} の URL の前か後ろに空白か改行があります: 取り除いてください(libpq"
        " は空白の後の URL を読まず、後ろの改行をデータベース名に含めます)",
        "en": "the URL in the environment variable {name} has a space or a line break before"
        " or after it: remove it (libpq does not read a URL after a space, and takes a line"
        " break after it into the database name)",
    },
    "config.store_url_keywords": {
        "ja": "環境変数 {name} の値を libpq の key=value の形として読めません: key=value"
        " を空白で区切り、空白か ' を含む値は 'a b\\' c' のように ' で囲んでください",
        "en": "the value of the environment variable {name} cannot be read as libpq's"
        " key=value form: separate the key=value pairs with spaces, and quote a value holding"
        " a space or ' as 'a b\\' c'",
    },
    "config.store_url_ports": {
        "ja": "ホスト {hosts} 個にポートが {ports} 個あります: ポートは 1 つ(どのホストにも)か、"
        "ホストと同じ数をカンマで区切って書いてください",
        "en": "{hosts} hosts and {ports} ports: write one port (for every host), or one for"
        " each host, separated by commas",
    },
    "config.store_url_unreadable": {
        "ja": "URL として読めません。パスワードなどの [ ] @ : / # ? は %5B %5D %40 %3A %2F %23 %3F"
        " のように書いてください",
        "en": "cannot be read as a URL: write [ ] @ : / # ? in the password (or elsewhere) as"
        " %5B %5D %40 %3A %2F %23 %3F",
    },
    "config.network": {
        "ja": "{value} はネットワーク(192.0.2.0/24 のような CIDR)ではありません",
        "en": "{value} is not a network (a CIDR like 192.0.2.0/24)",
    },
    "run.sender_unauthenticated": {
        "ja": "送信元を認証できませんでした(SPF・DKIM・DMARC のいずれも送信元ドメインで"
        "合格していません): {results}",
        "en": "the sender was not authenticated (neither SPF nor DKIM passed for the "
        "sender's domain, DMARC-aligned): {results}",
    },
    # -- resource faults: a full disk, a name the file system cannot hold -----------
    "ftp.low_space": {
        "ja": "ディスクの空きが少ないため、いまはファイルを受け付けられません。しばらくしてから送り直してください。",
        "en": "Insufficient storage space; try again later.",
    },
    "ftp.no_space": {
        "ja": "ディスクの空きが足りないため、ファイルを破棄しました。しばらくしてから送り直してください。",
        "en": "Insufficient storage space; the file was discarded. Try again later.",
    },
    "ftp.write_failed": {
        "ja": "ファイルを書き込めなかったため、破棄しました。しばらくしてから送り直してください。",
        "en": "The file could not be written and was discarded. Try again later.",
    },
    "file.name_too_long": {
        "ja": "ファイル名が長すぎます(UTF-8 で {size} バイト、上限 {limit} バイト):「{name}」",
        "en": "file name too long ({size} bytes in UTF-8, limit {limit} bytes): '{name}'",
    },
    "file.name_too_long.cut": {
        "ja": "ファイル名が長すぎます(UTF-8 で {size} バイト以上、上限 {limit} バイト):「{name}」",
        "en": "file name too long ({size} bytes or more in UTF-8, limit {limit} bytes): '{name}'",
    },
    # -- the console (daemon/console/) ---------------------------------------------
    "console.brand": {"ja": "連携コンソール", "en": "linkage console"},
    "console.nav.home": {"ja": "概要", "en": "Overview"},
    "console.nav.runs": {"ja": "状況確認", "en": "Runs"},
    "console.nav.accounts": {"ja": "連携設定", "en": "Accounts"},
    "console.nav.audit": {"ja": "監査ログ", "en": "Audit log"},
    "console.logout": {"ja": "ログアウト", "en": "Log out"},
    "console.yes": {"ja": "はい", "en": "yes"},
    "console.no": {"ja": "いいえ", "en": "no"},
    "console.role.admin": {"ja": "管理者", "en": "admin"},
    "console.role.operator": {"ja": "運用者", "en": "operator"},
    "console.role.viewer": {"ja": "閲覧者", "en": "viewer"},
    "console.login.title": {"ja": "ログイン", "en": "Log in"},
    "console.login.user": {"ja": "ユーザー名", "en": "User name"},
    "console.login.password": {"ja": "パスワード", "en": "Password"},
    "console.login.submit": {"ja": "ログイン", "en": "Log in"},
    "console.login.failed": {
        "ja": "ユーザー名またはパスワードが違います",
        "en": "wrong user name or password",
    },
    "console.login.locked": {
        "ja": "ログインの失敗が続いたため、しばらくログインできません。15 分ほどおいてから試してください",
        "en": "too many failed logins: try again in about 15 minutes",
    },
    "console.login.expired": {
        "ja": "ログイン画面の有効期限が切れました。もう一度入力してください",
        "en": "the login form expired: please enter your details again",
    },
    "console.error.title.400": {"ja": "リクエストを読めません", "en": "Bad request"},
    "console.error.title.401": {"ja": "ログインが必要です", "en": "Login needed"},
    "console.error.title.403": {"ja": "この操作はできません", "en": "Not allowed"},
    "console.error.title.404": {"ja": "見つかりません", "en": "Not found"},
    "console.error.title.405": {"ja": "この操作はできません", "en": "Method not allowed"},
    "console.error.title.409": {"ja": "今は実行できません", "en": "Not possible now"},
    "console.error.title.413": {"ja": "ファイルが大きすぎます", "en": "File too large"},
    "console.error.title.422": {"ja": "入力に誤りがあります", "en": "Invalid input"},
    "console.error.title.429": {"ja": "しばらくお待ちください", "en": "Please wait"},
    "console.error.title.503": {"ja": "一時的に利用できません", "en": "Unavailable"},
    "console.error.role": {
        "ja": "この操作は権限「{role}」ではできません",
        "en": "the role '{role}' may not do this",
    },
    "console.error.no_page": {
        "ja": "ページ {path} はありません",
        "en": "there is no page {path}",
    },
    "console.error.no_account": {
        "ja": "アカウント {name} はありません",
        "en": "there is no account {name}",
    },
    "console.error.back_to_run": {
        "ja": "実行 {run_id} に戻る",
        "en": "back to run {run_id}",
    },
    "console.error.to_run": {
        "ja": "実行 {run_id} を開く",
        "en": "open run {run_id}",
    },
    "console.error.no_run": {
        "ja": "実行 {run_id} はありません",
        "en": "there is no run {run_id}",
    },
    "console.error.not_kept": {
        "ja": "実行 {run_id} のファイルは保存されていません(保存期間を過ぎたか、ファイルがありません)",
        "en": "the file of run {run_id} is not kept (retention ended, or none came)",
    },
    "console.error.kept_elsewhere": {
        "ja": "実行 {run_id} のファイルはインスタンス {instance} が保存しています。"
        "そのインスタンスのコンソールから開いてください",
        "en": "the files of run {run_id} are kept by instance {instance}: open them from"
        " that instance's console",
    },
    "console.error.send_no_errors": {
        "ja": "実行 {run_id} は送信で、エラーCSVはありません(送ったリクエストと応答は実行の詳細にあります)",
        "en": "run {run_id} is a send, which has no error CSV (its requests and their answers"
        " are on the run's page)",
    },
    "console.error.errors_not_kept": {
        "ja": "実行 {run_id} のエラーCSVは保存されていません(保存期間を過ぎたか、移動・削除されています)",
        "en": "the error CSV of run {run_id} is not kept (retention ended, or it was moved away)",
    },
    "console.error.csrf": {
        "ja": "フォームの確認用トークンがないか、正しくありません。ページを開き直してからもう一度操作してください",
        "en": "the form's check token is missing or wrong: reload the page and try again",
    },
    "console.error.bad_status": {
        "ja": "状態は稼働か停止のどちらかです",
        "en": "the status is either active or stopped",
    },
    "console.notice.retried": {
        "ja": "再取込を受け付けました。この実行で取り込みます",
        "en": "retry accepted: this run imports the file again",
    },
    "console.notice.undone": {
        "ja": "取込を取り消しました",
        "en": "the import was undone",
    },
    "console.notice.uploaded": {
        "ja": "アップロードしたファイルを受け付けました",
        "en": "the uploaded file was accepted",
    },
    "console.notice.polled": {
        "ja": "今すぐチェックしました: {taken} 件のファイルを受け付けました(状況確認に表示されます)",
        "en": "checked now: {taken:@file} taken; they appear in Runs",
    },
    "console.notice.polled_none": {
        "ja": "今すぐチェックしました: 新しいファイルはありませんでした",
        "en": "checked now: no new file",
    },
    "console.live.status": {
        "ja": "この画面を更新できません(サーバーの応答: {status})。表示は最新ではありません。"
        "しばらくしてから再読み込みしてください",
        "en": "this page cannot be refreshed (the server answered {status}): what it shows"
        " may be out of date; reload it in a while",
    },
    "console.live.offline": {
        "ja": "この画面を更新できません(デーモンに接続できません)。表示は最新ではありません",
        "en": "this page cannot be refreshed (the daemon cannot be reached): what it shows"
        " may be out of date",
    },
    "console.live.silent": {
        "ja": "この画面を更新できません(デーモンが応答しません)。表示は最新ではありません",
        "en": "this page cannot be refreshed (the daemon does not answer): what it shows"
        " may be out of date",
    },
    "console.notice.stopped": {
        "ja": "アカウントを停止しました。メールと API で届くファイルは取り込まずに記録し、"
        "FTP と取込フォルダのファイルは稼働に戻すまでそのまま置いておきます",
        "en": "the account is stopped: files that come by mail or the API are recorded,"
        " not imported; files in its FTP home and drop folder wait until it is started again",
    },
    "console.notice.started": {
        "ja": "アカウントを稼働にしました",
        "en": "the account is active again",
    },
    "console.state.queued": {"ja": "待機中", "en": "queued"},
    "console.state.running": {"ja": "実行中", "en": "running"},
    "console.state.completed": {"ja": "完了", "en": "completed"},
    "console.state.failed": {"ja": "失敗", "en": "failed"},
    "console.state.aborted": {"ja": "中断(再実行待ち)", "en": "aborted (will run again)"},
    # Not only an account stopped: a delivery another instance took, a file older than
    # one of its name imported already. The run's message says which.
    "console.state.ignored": {"ja": "取込せず", "en": "not imported"},
    "console.status.active": {"ja": "稼働", "en": "active"},
    "console.status.stopped": {"ja": "停止", "en": "stopped"},
    "console.report_state.none": {"ja": "送信なし", "en": "none"},
    "console.report_state.pending": {"ja": "送信準備中", "en": "pending"},
    "console.report_state.queued": {"ja": "送信待ち", "en": "waiting for the relay"},
    "console.report_state.sent": {"ja": "送信済み", "en": "sent"},
    "console.report_state.failed": {"ja": "送信できず", "en": "refused"},
    "console.report.always": {"ja": "常に送信", "en": "always"},
    "console.report.errors": {"ja": "エラー時のみ", "en": "on errors only"},
    "console.report.never": {"ja": "送信しない", "en": "never"},
    "console.report.digest": {"ja": "1日1通のまとめ", "en": "daily digest"},
    "console.report.digest+errors": {
        "ja": "1日1通のまとめ+エラー時",
        "en": "daily digest and on errors",
    },
    "console.weekday.mon": {"ja": "月", "en": "Mon"},
    "console.weekday.tue": {"ja": "火", "en": "Tue"},
    "console.weekday.wed": {"ja": "水", "en": "Wed"},
    "console.weekday.thu": {"ja": "木", "en": "Thu"},
    "console.weekday.fri": {"ja": "金", "en": "Fri"},
    "console.weekday.sat": {"ja": "土", "en": "Sat"},
    "console.weekday.sun": {"ja": "日", "en": "Sun"},
    "console.field.id": {"ja": "実行ID", "en": "Run"},
    "console.field.account": {"ja": "アカウント", "en": "Account"},
    "console.field.channel": {"ja": "経路", "en": "Channel"},
    "console.field.sender": {"ja": "実行者・送信元", "en": "Executor or sender"},
    "console.field.filename": {"ja": "ファイル", "en": "File"},
    "console.field.layout": {"ja": "対象テーブル", "en": "Table"},
    "console.field.encoding": {"ja": "文字コード", "en": "Encoding"},
    "console.field.state": {"ja": "状況", "en": "State"},
    "console.field.rows_total": {"ja": "全体", "en": "Total rows"},
    "console.field.rows_imported": {"ja": "成功", "en": "Imported"},
    "console.field.rows_failed": {"ja": "エラー", "en": "Failed"},
    "console.field.rows_inserted": {"ja": "追加", "en": "Inserted"},
    "console.field.rows_updated": {"ja": "更新", "en": "Updated"},
    "console.field.rows_skipped": {"ja": "スキップ", "en": "Skipped"},
    "console.field.rows_deleted": {"ja": "削除", "en": "Deleted"},
    "console.field.rows_not_found": {"ja": "該当なし", "en": "Not found"},
    "console.field.rows_empty": {"ja": "空行", "en": "Empty lines"},
    "console.field.mode": {"ja": "取込方法", "en": "Mode"},
    "console.field.dry_run": {"ja": "試行のみ", "en": "Dry run"},
    "console.field.message": {"ja": "詳細", "en": "Message"},
    "console.field.received_at": {"ja": "実行日時", "en": "Received"},
    "console.field.started_at": {"ja": "開始日時", "en": "Started"},
    "console.field.finished_at": {"ja": "終了日時", "en": "Finished"},
    "console.field.report_state": {"ja": "レポートメール", "en": "Report mail"},
    "console.field.retry_of": {"ja": "再取込元", "en": "Retry of"},
    "console.field.undo_of": {"ja": "取消対象", "en": "Undo of"},
    "console.field.undone_by": {"ja": "取消した実行", "en": "Undone by"},
    "console.field.direction": {"ja": "方向", "en": "Direction"},
    "console.field.authentication_results": {
        "ja": "送信元の認証(SPF・DKIM・DMARC)",
        "en": "Sender authentication (SPF, DKIM, DMARC)",
    },
    "console.field.instance": {"ja": "取り込んだインスタンス", "en": "Imported by instance"},
    "console.direction.receive": {"ja": "受信", "en": "receive"},
    "console.direction.send": {"ja": "送信", "en": "send"},
    "console.state.send.aborted": {"ja": "強制終了", "en": "ended"},
    # The state filter's `aborted` takes both: an import that will run again, a send
    # that ended and never runs again.
    "console.filter.state.aborted": {
        "ja": "中断(取込は再実行待ち・送信は強制終了)",
        "en": "aborted (an import runs again, a send ended)",
    },
    # -- send runs as they are shown (console, `renkei show`, `renkei runs`) ---------
    "console.home.sends": {"ja": "最近の送信", "en": "Latest sends"},
    "console.home.all_sends": {"ja": "すべての送信を見る", "en": "All sends"},
    "console.home.no_sends": {"ja": "送信の実行はまだありません", "en": "no sends yet"},
    "console.runs.unsent_rows": {"ja": "未送信 {n} 行", "en": "{n:@row} not sent"},
    "console.run.send_heading": {"ja": "送信 {name}", "en": "send {name}"},
    "console.run.send_failed_banner": {
        "ja": "この送信は失敗しました。送れなかった行があります。相手先の応答は下の「送信したリクエスト」を見てください。",
        "en": "This send failed: some rows were not sent. The receiver's answers are in the requests below.",
    },
    "console.send_field.filename": {"ja": "送信したファイル", "en": "File sent"},
    "console.send_field.rows_sent": {"ja": "送信済み", "en": "Sent"},
    "console.send_field.rows_unsent": {"ja": "未送信", "en": "Not sent"},
    "console.send_field.instance": {"ja": "送信したインスタンス", "en": "Sent by instance"},
    "cli.runs.done": {"ja": "取込/送信", "en": "ok"},
    "cli.show.last_error": {"ja": "最後のエラー", "en": "Last error"},
    "cli.show.request": {
        "ja": "{seq}. {method} {url}  {rows} 行 / {bytes} バイト → {status}(試行 {attempts} 回)",
        "en": "{seq}. {method} {url}  {rows:@row} / {bytes:@byte} → {status} (attempts: {attempts})",
    },
    # -- a console form whose body cannot be read (daemon/console/render.py) ---------
    "console.error.bad_form": {
        "ja": "送信されたフォームを読み取れませんでした(途中で切れているか、形式や文字コードが正しくありません)。"
        "ページを開き直して、もう一度操作してください",
        "en": "the form sent could not be read (it was cut short, is malformed, or is not UTF-8):"
        " reload the page and try again",
    },
    "console.action.form_refused": {"ja": "読めないフォーム", "en": "unreadable form"},
    "console.audit.detail.form_malformed": {
        "ja": "形式が正しくないフォーム",
        "en": "malformed form",
    },
    "console.audit.detail.form_cut": {"ja": "途中で切れたフォーム", "en": "form cut short"},
    "console.audit.detail.form_undecodable": {
        "ja": "文字コードを読めないフォーム(UTF-8 ではない)",
        "en": "form not in UTF-8",
    },
    "console.filter.all": {"ja": "すべて", "en": "all"},
    "console.filter.since": {"ja": "開始日", "en": "From"},
    "console.filter.until": {"ja": "終了日", "en": "To"},
    "console.filter.apply": {"ja": "絞り込む", "en": "Filter"},
    "console.filter.clear": {"ja": "条件をクリア", "en": "Clear"},
    "console.filter.reversed": {
        "ja": "開始日が終了日より後になっています(この期間の実行はありません)",
        "en": "the start day is after the end day (no run falls in that range)",
    },
    "console.filter.bad_date": {
        "ja": "日付は 2024-05-16 の形で入力してください(この条件は使っていません)",
        "en": "write dates as 2024-05-16 (that condition was not used)",
    },
    "console.pager.prev": {"ja": "← 前へ", "en": "← Previous"},
    "console.pager.next": {"ja": "次へ →", "en": "Next →"},
    "console.pager.range": {
        "ja": "{total} 件中 {first}〜{last} 件",
        "en": "{first}–{last} of {total}",
    },
    "console.runs.title": {"ja": "状況確認", "en": "Runs"},
    "console.runs.total": {"ja": "{n} 件", "en": "{n:@run}"},
    "console.runs.none": {"ja": "該当する実行はありません", "en": "no runs"},
    "console.runs.account_linkage": {"ja": "アカウント / 対象テーブル", "en": "Account / table"},
    "console.runs.counts": {"ja": "件数(成功/全体)", "en": "Rows (ok/total)"},
    "console.runs.split": {
        "ja": "追加 {inserted}・更新 {updated}・スキップ {skipped}・削除 {deleted}",
        "en": "{inserted} inserted, {updated} updated, {skipped} skipped, {deleted} deleted",
    },
    "console.runs.failed_rows": {"ja": "エラー {n} 行", "en": "{n:@row} failed"},
    "console.runs.nothing_imported": {
        "ja": "取り込みなし(1 行も取り込んでいません)",
        "en": "nothing imported (not a single row)",
    },
    # An undone run stays completed (its rows were taken back by another run): marked.
    "console.runs.undone": {"ja": "取消済み", "en": "undone"},
    "console.runs.dry_run": {"ja": "試行", "en": "dry run"},
    "console.runs.detail": {"ja": "詳細", "en": "Details"},
    "console.runs.report_file": {"ja": "レポートファイル", "en": "Report file"},
    "console.runs.error_csv": {"ja": "エラーCSV", "en": "error CSV"},
    "console.runs.executor": {"ja": "実行者・送信元", "en": "Executor or sender"},
    "console.runs.export": {"ja": "この一覧をCSVで保存", "en": "Save this list as CSV"},
    "console.runs.export_utf8": {"ja": "UTF-8(BOM付き)", "en": "UTF-8 (with BOM)"},
    "console.runs.export_cp932": {"ja": "Shift_JIS(CP932)", "en": "Shift_JIS (CP932)"},
    "console.runs.export_name": {"ja": "連携状況.csv", "en": "runs.csv"},
    "console.run.title": {"ja": "詳細", "en": "Run"},
    "console.run.pending": {
        "ja": "ファイルを受け付けました。取込の開始を待っています(実行ID {run_id})。このページは自動で更新されます。",
        "en": "The file was accepted and waits for its import (run {run_id}). This page refreshes itself.",
    },
    "console.run.failed_banner": {
        "ja": "この実行は失敗しました。ファイルの行は 1 行も取り込んでいません。",
        "en": "This run failed. Not a single row of the file was imported.",
    },
    "console.run.ignored_banner": {
        "ja": "アカウントが停止中だったため、このファイルは取り込んでいません。",
        "en": "The account was stopped, so this file was not imported.",
    },
    "console.run.dry_banner": {
        "ja": "試行のみの実行です。データは書き込んでいません。",
        "en": "A dry run: no row was written.",
    },
    "console.run.download_file": {"ja": "受信ファイルをダウンロード", "en": "Download the file"},
    "console.run.download_errors": {
        "ja": "エラーCSVをダウンロード",
        "en": "Download the error CSV",
    },
    "console.run.file_not_kept": {
        "ja": "受信ファイルは保存されていません",
        "en": "the received file is not kept",
    },
    "console.run.file_kept_elsewhere": {
        "ja": "受信ファイルとエラーCSVはインスタンス {instance} が保存しています",
        "en": "the received file and error CSV are kept by instance {instance}",
    },
    "console.run.retry": {"ja": "再取込", "en": "Retry"},
    "console.run.undo": {"ja": "取込取消", "en": "Undo"},
    "console.run.undo_confirm": {
        "ja": "実行 {run_id} の取込を取り消します(取り込んだ {n:,} 行)。よろしいですか?",
        "en": "Take back what run {run_id} imported ({n:@row})?",
    },
    "console.run.fields": {"ja": "実行の内容", "en": "Run fields"},
    "console.run.retried_as": {"ja": "再取込した実行", "en": "Retried as"},
    "console.run.report": {"ja": "レポートメール", "en": "Report mail"},
    "console.run.report_to": {"ja": "宛先", "en": "To"},
    "console.run.report_queued": {"ja": "作成日時", "en": "Queued"},
    "console.run.report_sent": {"ja": "送信", "en": "Delivered"},
    "console.run.report_attempts": {"ja": "送信の試行回数", "en": "Attempts"},
    "console.run.report_answer": {"ja": "中継サーバーの応答", "en": "Relay's answer"},
    "console.run.delivered": {"ja": "中継サーバーが受け取りました", "en": "taken by the relay"},
    "console.run.not_ended": {
        "ja": "この実行はまだ終わっていません(終われば、ここに表示されます)",
        "en": "the run has not ended yet (what it comes to is shown here then)",
    },
    "console.run.no_report": {
        "ja": "この実行のレポートメールはありません",
        "en": "this run had no report mail",
    },
    "console.run.requests": {
        "ja": "送信したリクエスト({n} 件)",
        "en": "Requests sent onward ({n})",
    },
    "console.request.name": {"ja": "設定", "en": "Send or call"},
    "console.request.request": {"ja": "リクエスト", "en": "Request"},
    "console.request.rows": {"ja": "行数", "en": "Rows"},
    "console.request.state": {"ja": "状況", "en": "State"},
    "console.request.attempts": {"ja": "試行回数", "en": "Attempts"},
    "console.request.answer": {"ja": "応答", "en": "Answer"},
    "console.request.at": {"ja": "日時", "en": "When"},
    "console.request.state.waiting": {"ja": "送信待ち", "en": "waiting"},
    "console.request.state.done": {"ja": "完了", "en": "done"},
    "console.request.state.failed": {"ja": "失敗", "en": "failed"},
    "console.request.state.skipped": {
        "ja": "未送信(前の失敗のため)",
        "en": "not sent (an earlier one failed)",
    },
    "console.request.state.skipped_aborted": {
        "ja": "未送信(強制終了のため)",
        "en": "not sent (the send was ended)",
    },
    "console.run.errors": {"ja": "エラーの行({n} 件)", "en": "Row errors ({n})"},
    # The store keeps a run's first errors (importers.errors.ERRORS_KEPT); the CSV all.
    "console.run.errors_cut": {
        "ja": "先頭の {n} 件のエラーを表示しています。すべてのエラーはエラーCSVにあります",
        "en": "The first {n} errors are shown; the error CSV holds them all",
    },
    "console.run.no_errors": {"ja": "エラーはありません", "en": "no row errors"},
    "console.run.line": {"ja": "行番号", "en": "Line"},
    # A problem of the whole file (it failed before its rows: line 0 in the store).
    "console.run.whole_file": {"ja": "ファイル全体", "en": "whole file"},
    "console.run.column": {"ja": "列", "en": "Column"},
    "console.run.value": {"ja": "値", "en": "Value"},
    "console.run.problem": {"ja": "エラー内容", "en": "Error"},
    "console.accounts.title": {"ja": "連携設定", "en": "Accounts"},
    "console.accounts.none": {
        "ja": "見られるアカウントはありません",
        "en": "no account to show",
    },
    "console.account.method": {"ja": "連携方法", "en": "Method"},
    "console.account.status": {"ja": "状態", "en": "Status"},
    "console.account.switched": {
        "ja": "コンソールで {by} が切り替えました({at})。設定ファイルでは「{config}」です",
        "en": "switched in the console by {by} ({at}); the config file says '{config}'",
    },
    "console.account.mail_address": {"ja": "送信先アドレス", "en": "Send to"},
    "console.account.allowed_senders": {"ja": "送信を許可するアドレス", "en": "Allowed senders"},
    "console.account.no_senders": {
        "ja": "(なし:どの送信元も受け付けません)",
        "en": "(none: no sender is taken)",
    },
    "console.account.ftp_user": {"ja": "FTPアカウント", "en": "FTP user"},
    "console.account.weekdays": {"ja": "曜日", "en": "Weekdays"},
    "console.account.window": {"ja": "時間帯", "en": "Window"},
    "console.account.interval": {"ja": "間隔", "en": "Interval"},
    "console.account.delay": {"ja": "遅延", "en": "Delay"},
    "console.account.no_checks_stopped": {
        "ja": "停止中のためチェックしません",
        "en": "not checked while stopped",
    },
    "console.account.next_checks": {"ja": "次回のチェック(5 回分)", "en": "Next five checks"},
    "console.account.next_check": {"ja": "次回チェック", "en": "Next check"},
    "console.account.api_path": {"ja": "API の送信先", "en": "API path"},
    "console.account.dropdir": {"ja": "取込フォルダ", "en": "Drop folder"},
    "console.account.filename": {"ja": "ファイル名の規則", "en": "File names"},
    "console.account.report": {"ja": "レポートメール", "en": "Report mail"},
    "console.account.error_report_to": {"ja": "エラー時の送信先", "en": "Error reports to"},
    "console.account.success_report_to": {"ja": "成功時の送信先", "en": "Success reports to"},
    "console.account.expect": {"ja": "ファイルの予定", "en": "Expected files"},
    "console.account.monthly": {"ja": "毎月 {day} 日", "en": "monthly on day {day}"},
    "console.account.monthly_last": {"ja": "毎月末日", "en": "on the last day of each month"},
    "console.account.by": {"ja": "{by} まで", "en": "by {by}"},
    "console.account.missing": {
        "ja": "届いていない日: {days}",
        "en": "missing on: {days}",
    },
    "console.account.last_run": {"ja": "最新の実行", "en": "Last run"},
    "console.account.layout": {"ja": "レイアウト {name}", "en": "Layout {name}"},
    "console.account.poll": {"ja": "今すぐチェック", "en": "Check now"},
    "console.account.stopped_actions": {
        "ja": "停止中のため、今すぐチェックとアップロードはできません。",
        "en": "Stopped: checking now and uploading are not possible.",
    },
    "console.account.stop": {"ja": "停止する", "en": "Stop"},
    "console.account.start": {"ja": "稼働する", "en": "Start"},
    "console.account.runs": {"ja": "このアカウントの実行", "en": "This account's runs"},
    "console.column.name": {"ja": "列名", "en": "Column"},
    "console.column.label": {"ja": "見出し", "en": "Label"},
    "console.column.type": {"ja": "型", "en": "Type"},
    "console.column.required": {"ja": "必須", "en": "Required"},
    "console.column.aliases": {"ja": "別名", "en": "Aliases"},
    "console.upload.title": {"ja": "ファイルをアップロード", "en": "Upload a file"},
    "console.upload.file": {"ja": "ファイル", "en": "File"},
    "console.upload.check": {"ja": "内容を確認", "en": "Check"},
    "console.upload.preview": {
        "ja": "{filename} の確認結果(まだ取り込んでいません)",
        "en": "{filename} checked (not imported yet)",
    },
    "console.upload.counts": {
        "ja": "全 {total} 行のうち 取込可 {ok} 行 / エラー {failed} 行",
        "en": "{total:@row}: {ok} can be imported, {failed} failed",
    },
    "console.upload.confirm": {"ja": "取り込む", "en": "Import"},
    "console.upload.cancel": {"ja": "やめる", "en": "Cancel"},
    "console.upload.fix_first": {
        "ja": "このままでは取り込めません。ファイルを直してからもう一度アップロードしてください",
        "en": "this file cannot be imported as it is: correct it and upload it again",
    },
    "console.upload.still_running": {
        "ja": "確認に時間がかかっています。終わると詳細に結果が出ます",
        "en": "the check is taking a while; its result appears in the run's details",
    },
    "console.upload.no_file": {
        "ja": "ファイルを選んでください",
        "en": "choose a file",
    },
    "console.upload.stopped": {
        "ja": "このアカウントは停止中です。稼働にしてからアップロードしてください",
        "en": "this account is stopped: start it before uploading",
    },
    "console.upload.bad_name": {"ja": "{detail}", "en": "{detail}"},
    "console.upload.too_large": {
        "ja": "ファイルが大きすぎます(上限 {limit:,} バイト)",
        "en": "the file is too large (limit {limit:,} bytes)",
    },
    "console.upload.not_importable": {
        "ja": "確認でエラーになったファイルは取り込めません",
        "en": "a file whose check failed cannot be imported",
    },
    "console.upload.expired": {
        "ja": "確認したファイルがもうありません。もう一度アップロードしてください",
        "en": "the checked file is gone: upload it again",
    },
    "console.upload.no_room": {
        "ja": "ディスクの空きが足りないため受け付けられません。しばらくしてから試してください",
        "en": "no room to keep the file: try again later",
    },
    "console.home.title": {"ja": "概要", "en": "Overview"},
    "console.home.waiting": {"ja": "取込待ち", "en": "waiting"},
    "console.home.importing": {"ja": "取込中", "en": "importing"},
    "console.home.quarantined": {"ja": "隔離", "en": "quarantined"},
    "console.home.outbox": {"ja": "送信待ちメール", "en": "mail waiting"},
    "console.home.outbox_failed": {"ja": "送れなかったメール", "en": "mail refused"},
    "console.home.relay_down": {
        "ja": "メールのリレー {relay} に {since} から渡せていません。送信待ちのメールは {until} にもう一度送ります。リレーの最後の応答: {answer}",
        "en": "report mail has not reached the relay {relay} since {since}; the mail waiting is tried again at {until}. The relay's last answer: {answer}",
    },
    # Kept in memory: a restart forgets them, so the card says since when it counts.
    "console.home.refusals": {
        "ja": "受付拒否(24 時間以内・起動後)",
        "en": "refused (last 24 hours, since start)",
    },
    "console.home.today": {"ja": "今日の実行", "en": "Today's runs"},
    "console.refusal.at": {"ja": "日時", "en": "When"},
    "console.refusal.code": {"ja": "応答", "en": "Reply"},
    "console.refusal.who": {"ja": "送信元", "en": "Who"},
    "console.refusal.what": {"ja": "対象", "en": "What"},
    "console.refusal.detail": {"ja": "理由", "en": "Why"},
    "console.audit.title": {"ja": "監査ログ", "en": "Audit log"},
    "console.audit.none": {"ja": "記録はまだありません", "en": "nothing recorded yet"},
    "console.audit.at": {"ja": "日時", "en": "When"},
    "console.audit.user": {"ja": "ユーザー", "en": "User"},
    "console.audit.address": {"ja": "接続元", "en": "From"},
    "console.audit.action": {"ja": "操作", "en": "Action"},
    "console.audit.target": {"ja": "対象", "en": "Target"},
    "console.audit.outcome": {"ja": "結果", "en": "Outcome"},
    "console.audit.detail": {"ja": "内容", "en": "Detail"},
    "console.action.login": {"ja": "ログイン", "en": "log in"},
    "console.action.logout": {"ja": "ログアウト", "en": "log out"},
    "console.action.retry": {"ja": "再取込", "en": "retry"},
    "console.action.undo": {"ja": "取込取消", "en": "undo"},
    "console.action.poll": {"ja": "今すぐチェック", "en": "check now"},
    "console.action.status": {"ja": "稼働/停止", "en": "start/stop"},
    "console.action.upload_preview": {"ja": "アップロード(確認)", "en": "upload (check)"},
    "console.action.upload": {"ja": "アップロード(取込)", "en": "upload (import)"},
    "console.action.csrf_refused": {"ja": "トークンなしの操作", "en": "form without token"},
    "console.action.audit": {"ja": "監査ログの表示", "en": "view the audit log"},
    "console.outcome.ok": {"ja": "成功", "en": "ok"},
    "console.outcome.failed": {"ja": "失敗", "en": "failed"},
    "console.outcome.refused": {"ja": "拒否", "en": "refused"},
    "console.outcome.locked": {"ja": "ロック中", "en": "locked"},
    "api.bad_query.filter": {
        "ja": "{name}={value} では絞り込めません。使える値: {allowed}",
        "en": "{name}={value} is not a filter value; allowed: {allowed}",
    },
    "api.bad_parameter_value.twice": {
        "ja": "パラメーター {name} が異なる値で2回指定されています: {values}",
        "en": "parameter {name} was given twice with different values: {values}",
    },
    "config.decimal_key": {
        "ja": "{column} は decimal の列です。キーは書かれたとおりに照合されるため、1.5 と 1.50"
        " は別のキーになります。ファイルでは数値を一つの書き方にそろえるか、int か text の列を"
        "キーにしてください",
        "en": "{column} is a decimal column: a key is matched as written, so 1.5 and 1.50 are"
        " two keys; write the numbers one way in the files, or key on an int or text column",
    },
    "config.reference_type": {
        "ja": "列 {column}({type})の値はレイアウト {layout} の {key_column}({key_type})と"
        "照合されますが、型が違うため一致しないことがあります(01 や １ は 1 と一致しません)。"
        "列の type を {key_type} にするか、{where} に {type} の列を指定してください",
        "en": "column {column} ({type}) is matched against {key_column} ({key_type}) of layout"
        " {layout}, a different type, so values may never match (01 or １ is not 1); make the"
        " column's type {key_type}, or name a {type} column in {where}",
    },
    "records.key_slash": {
        "ja": "{label}はキーのため「/」を含められません",
        "en": "{label} is part of the key and may not hold a '/'",
    },
    "records.key_comma": {
        "ja": "{label}は複合キーの最後以外の項目のため「,」を含められません",
        "en": "{label} is a key column before the last and may not hold a ','",
    },
    "send.part_failed": {
        "ja": "{parts} 件中 {seq} 件目のリクエストが失敗しました({status})。"
        "{total} 件中 {sent} 件を送信済みです。",
        "en": "Request {seq} of {parts} failed ({status}); {sent} of {total:@row} sent.",
    },
    "send.row_too_wide": {
        "ja": "送信するCSVを作れませんでした。{position} 件目の行({row})が {bytes} バイトあり、"
        "ヘッダー行とリクエストの枠組み・パラメータ({other} バイト)と合わせると"
        " 1 回のリクエストの上限 {limit} バイト(max_bytes)を超えます。",
        "en": "The CSV to send could not be built: row {position} ({row}) is {bytes} bytes,"
        " which with the header row and the request's framing and parameters ({other} bytes)"
        " is over one request's limit of {limit} bytes (max_bytes).",
    },
    "send.header_too_wide": {
        "ja": "送信するCSVを作れませんでした。ヘッダー行とリクエストの枠組み・パラメータだけで"
        " {other} バイトあり、1 回のリクエストの上限 {limit} バイト(max_bytes)を超えます。",
        "en": "The CSV to send could not be built: the header row and the request's framing"
        " and parameters alone are {other} bytes, over one request's limit of {limit} bytes"
        " (max_bytes).",
    },
    "outward.net.timeout": {
        "ja": "{seconds} 秒以内に応答が最後まで届きませんでした",
        "en": "no whole answer within {seconds} s",
    },
    "outward.net.connect": {
        "ja": "送信先に接続できませんでした({detail})",
        "en": "could not connect to the receiver ({detail})",
    },
    "outward.net.protocol": {
        "ja": "送信先の応答が HTTP として読めませんでした({detail})",
        "en": "the receiver's answer was not readable HTTP ({detail})",
    },
    "outward.net.read": {
        "ja": "送信先の応答を待つ間に接続が切れました({detail})",
        "en": "the connection broke while waiting for the receiver's answer ({detail})",
    },
    "outward.net.write": {
        "ja": "リクエストを送る途中で接続が切れました({detail})",
        "en": "the connection broke while the request was being sent ({detail})",
    },
    "outward.net.closed": {
        "ja": "送信先が接続を閉じました",
        "en": "the receiver closed the connection",
    },
    "outward.net.other": {
        "ja": "通信のエラーです({detail})",
        "en": "a network error ({detail})",
    },
    "call.not_started": {
        "ja": "この呼び出しは組み立てられないため、送っていません。設定を直してください({detail})",
        "en": "this call could not be built, so nothing was sent; fix the config ({detail})",
    },
    "call.not_spooled": {
        "ja": "この呼び出しはリクエストを保存できなかったため、送っていません({detail})",
        "en": "this call's requests could not be spooled, so nothing was sent ({detail})",
    },
    "call.no_value": {
        "ja": "{{{name}}} に入れる値がこの取込にありません",
        "en": "this import has no value for {{{name}}}",
    },
    "outward.unsendable": {
        "ja": "このリクエストは送れないため、再試行せずに失敗としました。"
        "設定か行の値を直してください({detail})",
        "en": "this request cannot be sent, so it failed without a retry; fix the config or"
        " the row's values ({detail})",
    },
    "config.call_follows_nothing": {
        "ja": "after_import が空なので、この呼び出しは一度も行われません: 取込のあとに呼び出す"
        "アカウントを指定してください",
        "en": "after_import is empty, so this call is never made: list the accounts whose"
        " imports it follows",
    },
    "config.get_without_body": {
        "ja": 'method = "GET" の要求は本文を送らないため、json は送られません: 値は params'
        ' に書くか、method = "POST" にしてください',
        "en": 'a method = "GET" request sends no body, so json would not be sent: put the'
        ' values in params, or use method = "POST"',
    },
    "config.rows_run_alone": {
        "ja": 'rows = "run" は取込のあとに、その取込の行を送ります。after_import にアカウントを'
        "指定してください(手動やスケジュールの送信には取込がありません)",
        "en": 'rows = "run" sends the rows of the import that triggered the send: list'
        " accounts in after_import (a send by hand or on schedule follows no import)",
    },
    "config.header_ascii": {
        "ja": "{value} はヘッダーの値に使えません。ヘッダーの値は ASCII の文字(英数字・記号・空白)"
        "だけで書きます。日本語などは送信先の決める形(%E6%97%A5 のようなパーセント"
        "エンコードなど)にしてください",
        "en": "{value} cannot be a header value: header values must be ASCII (letters,"
        " digits, symbols, spaces); write other text as the receiver expects it (percent-"
        "encoded like %E6%97%A5, say)",
    },
    "config.own_header": {
        "ja": "ヘッダー {name} は renkei が自分で付けます(Idempotency-Key、Content-Type、"
        "Content-Length、Host は大文字小文字を問わず指定できません)",
        "en": "renkei sets the header {name} itself (Idempotency-Key, Content-Type,"
        " Content-Length and Host cannot be configured, in any case)",
    },
    "config.outward_name": {
        "ja": "名前 {value} は使えません。URL とフォルダー名の一部になるため、64 文字以内で、"
        "/ と \\ と制御文字を含まず、. で始まらない名前にしてください",
        "en": "{value} cannot be a send's or a call's name: it is part of a URL and a folder's"
        " name, so keep it to 64 characters, without / or \\ or control characters, not"
        " starting with .",
    },
    "send.split.sent": {
        "ja": "1 回の上限({rows} 行・{bytes} バイト)を超えるため、{parts} 回に分けて送信しました。",
        "en": "Over one request's limits ({rows:@row}, {bytes:@byte}): sent in {parts:@request}.",
    },
    "send.split.tried": {
        "ja": "1 回の上限({rows} 行・{bytes} バイト)を超えるため、{parts} 回に分けて送信しようとしました。",
        "en": "Over one request's limits ({rows:@row}, {bytes:@byte}): split into {parts:@request}.",
    },
    "header.blank_cells": {
        "ja": "見出しの {positions}列目が空です(列ごとに見出しを付けるか、空の列を削除してください)",
        "en": "the header is empty in column {positions} (name each column, or delete"
        " the empty one)",
    },
    "row.header_again": {
        "ja": "見出しと同じ行です(ページを貼り合わせたファイルの見出しの繰り返し?)。データとしては取り込みません",
        "en": "the header row again (pages of one export pasted together?): not taken as data",
    },
    "row.beside_table": {
        "ja": "表の外(見出しのない列)に値「{value}」があります。見出しのない列の値は取り込めません",
        "en": "has '{value}' beside the table, in a column without a header;"
        " a column without a header cannot be imported",
    },
    "file.is_workbook": {
        "ja": "CSV ではなく Excel ブック({format})です。CSV として保存し直して送るか、"
        "拡張子 .{format} のまま送ってください(アカウントに excel = true が必要です)",
        "en": "not a CSV but an Excel workbook ({format}): save it as CSV and send it"
        " again, or send it named .{format} (the account needs excel = true)",
    },
    "file.zip": {
        "ja": "CSV ではなく ZIP 圧縮ファイルです。展開した CSV を送ってください",
        "en": "not a CSV but a zip archive: send the CSV it holds, unpacked",
    },
    "file.corrects_unimported": {
        "ja": "このファイルはエラーCSVの訂正ですが、訂正元の実行 {run} は 1 行も取り込んでいません"
        "(エラーのある行があると全体を取り込まない設定か、取込に失敗)。訂正した行だけではファイル"
        "全体になりません。ファイル全体を訂正して、元の名前で送ってください",
        "en": "this is a corrected error CSV, but run {run}, which it corrects, imported no"
        " row (none is imported while any row has an error, or it failed): its corrected"
        " rows alone are not the file; correct the whole file and send it under its own name",
    },
    "file.corrects_dry_run": {
        "ja": "このファイルはエラーCSVの訂正ですが、訂正元の実行 {run} は確認のみ(dry run)で、"
        "何も取り込んでいません。訂正した行だけではファイル全体になりません。ファイル全体を"
        "訂正して、元の名前で送ってください",
        "en": "this is a corrected error CSV, but run {run}, which it corrects, was a dry run"
        " that imported nothing: its corrected rows alone are not the file; correct the whole"
        " file and send it under its own name",
    },
    "file.corrects_undone": {
        "ja": "このファイルはエラーCSVの訂正ですが、訂正元の実行 {run} は取り消されています"
        "(実行 {undo})。訂正した行を加えると、取り消したファイルの行が一部だけ戻ります。"
        "取り込むなら、ファイル全体を訂正して元の名前で送ってください",
        "en": "this is a corrected error CSV, but run {run}, which it corrects, was undone"
        " (run {undo}): its corrected rows would bring back part of a file taken back; to"
        " import it, correct the whole file and send it under its own name",
    },
    "file.corrects_again": {
        "ja": "このファイルはエラーCSVの訂正ですが、訂正元の実行 {run} のエラーCSVは実行 {done} で"
        "訂正済みです。同じエラーCSVからもう一度訂正すると、両方で直した行が二重になります。"
        "まだ直っていない行は、実行 {done} のエラーCSV({name})を直して送ってください",
        "en": "this is a corrected error CSV, but the error CSV of run {run}, which it corrects,"
        " was corrected already by run {done}: a second copy of it would import the rows fixed"
        " in both twice; the rows still wrong are in the error CSV of run {done} ({name}):"
        " correct that one and send it",
    },
    "file.corrects_older": {
        "ja": "このファイルはエラーCSVの訂正ですが、同じ名前で最後に取り込んだ実行 {run} には"
        "エラーの行がありません(訂正はそれより前の版のエラーCSVのものです)。訂正した行を加えると、"
        "二つの版の行が混ざります。ファイル全体を送ってください",
        "en": "this is a corrected error CSV, but run {run}, the last import of its file, had"
        " no row errors (the copy is of an older version's error CSV): its corrected rows"
        " would mix two versions of the file; send the whole file",
    },
    "file.corrects_replaced": {
        "ja": "このファイルはエラーCSVの訂正ですが、訂正元の実行 {run} の行は、その後の実行 {newer}"
        " で同じ名前のファイルに置き換えられています。訂正した行を加えると、二つの版の行が"
        "混ざります。新しい版のエラーCSVを訂正するか、ファイル全体を送ってください",
        "en": "this is a corrected error CSV, but the rows of run {run}, which it corrects,"
        " were replaced since by a file of the same name (run {newer}): its corrected rows"
        " would mix two versions of the file; correct the newer version's error CSV, or send"
        " the whole file",
    },
    "file.corrects_other_version": {
        "ja": "このファイルはエラーCSVの訂正ですが、行番号は実行 {run} のエラーCSVのもので、"
        "同じ名前で取り込まれている実行 {latest} のものではありません。訂正した行を加えると、"
        "二つの版の行が混ざります。実行 {latest} のエラーCSVを訂正するか、ファイル全体を送ってください",
        "en": "this is a corrected error CSV, but its line numbers are those of the error CSV"
        " of run {run}, not of run {latest}, the import of its file it would join: its"
        " corrected rows would mix two versions of the file; correct the error CSV of run"
        " {latest}, or send the whole file",
    },
    "file.tab_separated": {
        "ja": "{line}行目: 見出しがタブで区切られています(タブ区切りのテキストのようです)。"
        "カンマ区切りの CSV で保存して送ってください",
        "en": "line {line}: the header is separated by tabs (a tab-delimited text, it seems):"
        " save it as comma-separated CSV and send it again",
    },
    "file.euc_jp": {
        "ja": "EUC-JP のファイルのようです(Shift_JIS として読むと文字化けします)。"
        "CSV(UTF-8 または Shift_JIS)で保存して送ってください",
        "en": "the file looks like EUC-JP (read as Shift_JIS its Japanese would be"
        " garbled); save it as CSV (UTF-8 or Shift_JIS) and send it again",
    },
    "file.iso2022jp": {
        "ja": "ISO-2022-JP(JIS)のファイルのようです(文字集合を切り替えるエスケープシーケンスがあります)。"
        "CSV(UTF-8 または Shift_JIS)で保存して送ってください",
        "en": "the file looks like ISO-2022-JP (JIS: it switches character sets by escape"
        " sequences); save it as CSV (UTF-8 or Shift_JIS) and send it again",
    },
    "file.utf16_no_bom": {
        "ja": "UTF-16 のファイルのようです(1文字おきに NUL バイトがあります)。"
        "CSV(UTF-8 または Shift_JIS)で保存して送ってください",
        "en": "the file looks like UTF-16 (a NUL byte in every other byte): save it as"
        " CSV (UTF-8 or Shift_JIS) and send it again",
    },
    "workbook.why.damaged": {
        "ja": "ファイルの中身が壊れているか、途中で切れています",
        "en": "its content is damaged or cut short",
    },
    "workbook.why.password": {
        "ja": "パスワードで保護されています",
        "en": "it is password-protected",
    },
    "workbook.why.crashed": {
        "ja": "読み取りの処理が異常終了しました",
        "en": "reading it crashed the reader",
    },
    "workbook.why.slow": {
        "ja": "{seconds} 秒以内に読み終わりませんでした",
        "en": "it was not read within {seconds} s",
    },
    "workbook.why.no_worksheet": {
        "ja": "表示されているワークシートがありません",
        "en": "it has no visible worksheet",
    },
    "workbook.empty": {
        "ja": "ブックの表示されているシート({sheets})はどれも空です",
        "en": "every visible sheet of the workbook ({sheets}) is empty",
    },
    "workbook.sheet_empty": {
        "ja": "シート「{sheet}」は空です",
        "en": "sheet '{sheet}' is empty",
    },
    "console.notice.retried_dry": {
        "ja": "再確認を受け付けました。この実行でファイルをもう一度確認します(行は取り込みません)",
        "en": "check accepted: this run checks the file again and imports no row",
    },
    "console.notice.retry_replayed_dry": {
        "ja": "この実行はすでに再確認を受け付けています。その再確認の実行です",
        "en": "the run was already being checked again: this is that check",
    },
    "console.notice.retry_replayed": {
        "ja": "この実行はすでに再取込を受け付けています。その再取込の実行です",
        "en": "the run was already being retried: this is that retry",
    },
    "console.outcome.replayed": {"ja": "受付済み(再送)", "en": "answered again"},
    "console.run.file_spooled": {
        "ja": "受信ファイルは取込待ちか取込中です(スプールにあります)。取込が終わるとダウンロードできます",
        "en": "the received file waits for or is in its import (in the spool);"
        " it can be downloaded once the run ends",
    },
    "console.audit.detail.retried": {"ja": "新しい実行 {run}", "en": "new run {run}"},
    "console.audit.detail.retry_replayed": {
        "ja": "再取込済み: 受付中の実行 {run} を返しました",
        "en": "already retried: answered with run {run}",
    },
    "console.audit.detail.undone": {
        "ja": "取消の実行 {run}: 削除 {deleted} 行、復元 {restored} 行",
        "en": "undo run {run}: {deleted} deleted, {restored} restored",
    },
    "console.audit.detail.polled": {"ja": "実行 {n} 件", "en": "{n:@run}"},
    "console.audit.detail.file_run": {"ja": "{file}(実行 {run})", "en": "{file} (run {run})"},
    "console.audit.detail.form_token": {
        "ja": "ログイン画面のトークンがないか期限切れ",
        "en": "login form token missing or expired",
    },
    "console.audit.detail.locked": {
        "ja": "この失敗でロックしました",
        "en": "this failure locked the login",
    },
    "console.audit.detail.active": {"ja": "稼働にしました", "en": "started"},
    "console.audit.detail.stopped": {"ja": "停止にしました", "en": "stopped"},
    "console.audit.detail.run_not_final": {
        "ja": "実行がまだ終わっていません",
        "en": "the run has not finished",
    },
    "console.audit.detail.file_not_kept": {
        "ja": "受信ファイルが保存されていません",
        "en": "the file is not kept",
    },
    "console.audit.detail.account_unknown": {
        "ja": "アカウントが設定にありません",
        "en": "the account is not in the config",
    },
    "console.audit.detail.account_stopped": {
        "ja": "アカウントが停止中です",
        "en": "the account is stopped",
    },
    "console.audit.detail.correction_imported": {
        "ja": "取込済みの訂正ファイルは再取込できません",
        "en": "a corrected copy whose rows are in cannot be retried",
    },
    "console.audit.detail.role_viewer": {
        "ja": "権限「閲覧者」では許されない操作",
        "en": "not allowed to a viewer",
    },
    "console.audit.detail.role_operator": {
        "ja": "権限「運用者」では許されない操作",
        "en": "not allowed to an operator",
    },
    "console.audit.detail.no_preview": {
        "ja": "確認の実行 {run} が見つかりません",
        "en": "no checked run {run}",
    },
    "console.audit.detail.run_is_send": {
        "ja": "送信の実行は再取込できません",
        "en": "a send cannot be retried",
    },
    "console.audit.detail.run_not_completed": {
        "ja": "取込完了ではない実行です",
        "en": "the run did not complete",
    },
    "console.audit.detail.run_dry_run": {
        "ja": "試行(dry run)の実行です",
        "en": "the run was a dry run",
    },
    "console.audit.detail.run_already_undone": {
        "ja": "すでに取り消されています",
        "en": "already undone",
    },
    "console.audit.detail.run_not_latest": {
        "ja": "後の実行が同じデータを変更しています",
        "en": "a later run changed the same rows",
    },
    "console.audit.detail.send_not_undoable": {
        "ja": "送信の実行は取り消せません",
        "en": "a send cannot be undone",
    },
    "console.audit.detail.undo_not_kept": {
        "ja": "取消に必要な変更前の行が残っていません",
        "en": "the rows it changed were not kept",
    },
    "console.audit.detail.run_rows_edited": {
        "ja": "実行の行がその後ほかの操作で変更されています",
        "en": "rows of the run were changed since",
    },
    "console.audit.detail.upload.no_file": {
        "ja": "ファイルが選ばれていません",
        "en": "no file chosen",
    },
    "console.audit.detail.upload.stopped": {
        "ja": "アカウントが停止中です",
        "en": "the account is stopped",
    },
    "console.audit.detail.upload.bad_name": {
        "ja": "ファイル名が規則に合いません",
        "en": "the file name breaks the account's rule",
    },
    "console.audit.detail.upload.too_large": {
        "ja": "ファイルが大きすぎます",
        "en": "the file is too large",
    },
    "console.audit.detail.upload.not_importable": {
        "ja": "確認でエラーになったファイルです",
        "en": "the file failed its check",
    },
    "console.upload.kept_elsewhere": {
        "ja": "確認したファイルはインスタンス {instance} にあります。そのインスタンスのコンソール"
        "から取り込むか、ここでもう一度アップロードしてください",
        "en": "the checked file is kept by instance {instance}: import it from that"
        " instance's console, or upload it again here",
    },
    "console.audit.detail.upload.kept_elsewhere": {
        "ja": "確認したファイルは別のインスタンスにあります",
        "en": "the checked file is kept by another instance",
    },
    "console.audit.detail.upload.expired": {
        "ja": "確認したファイルが残っていません",
        "en": "the checked file is no longer kept",
    },
    "console.refusal.reason.too_many_connections": {
        "ja": "接続数の上限",
        "en": "too many connections",
    },
    "console.refusal.reason.low_space": {"ja": "ディスクの空き不足", "en": "low disk space"},
    "console.refusal.reason.unknown_recipient": {
        "ja": "宛先のアカウントがありません",
        "en": "unknown recipient",
    },
    "console.refusal.reason.sender_not_allowed": {
        "ja": "送信を許可していないアドレス",
        "en": "sender not allowed",
    },
    "console.refusal.reason.network_not_allowed": {
        "ja": "許可していないネットワークからの接続",
        "en": "network not allowed",
    },
    "console.refusal.reason.sender_not_authenticated": {
        "ja": "送信元を認証できません(SPF/DKIM/DMARC)",
        "en": "sender not authenticated (SPF/DKIM/DMARC)",
    },
    "console.refusal.reason.auth_temporary_error": {
        "ja": "送信元の認証を確認できません(DNS の一時的な障害)",
        "en": "sender authentication could not be checked (DNS trouble)",
    },
    "console.refusal.reason.too_large": {"ja": "大きすぎるファイル", "en": "too large"},
    "console.refusal.reason.line_too_long": {"ja": "長すぎる行", "en": "line too long"},
    "console.refusal.reason.too_nested": {
        "ja": "入れ子が深すぎるメール",
        "en": "MIME parts nested too deep",
    },
    "console.refusal.reason.too_many_parts": {
        "ja": "パートが多すぎるメール",
        "en": "too many MIME parts",
    },
    "console.refusal.reason.automatic_mail": {
        "ja": "自動送信のメール(不達通知・自動応答など)のため受け取り、取り込みもレポートもしません",
        "en": "automatic mail (a bounce, an auto-reply): taken, neither imported nor answered",
    },
    "console.refusal.reason.reply_to_report": {
        "ja": "renkei のメールへの返信(CSV の添付なし)のため受け取り、取り込みもレポートもしません",
        "en": "a reply to a mail of renkei's, with no CSV: taken, neither imported nor answered",
    },
    "console.refusal.reason.spool_unavailable": {
        "ja": "受付を一時的に保存できません",
        "en": "spool unavailable",
    },
    "console.refusal.reason.too_slow": {"ja": "送信が遅すぎます", "en": "too slow"},
    "console.refusal.reason.timeout": {"ja": "時間切れ", "en": "timed out"},
    "console.refusal.reason.tls_required": {"ja": "TLS が必要です", "en": "TLS required"},
    "console.refusal.reason.no_proxy_header": {
        "ja": "PROXY ヘッダーがありません",
        "en": "no PROXY header",
    },
    "console.refusal.reason.banned": {
        "ja": "ログインの失敗が続いた接続元(一時拒否)",
        "en": "address banned for a while after failed logins",
    },
    "console.refusal.reason.login_failed": {"ja": "ログインの失敗", "en": "login failed"},
    "console.refusal.reason.bad_filename": {
        "ja": "ファイル名が規則に合いません",
        "en": "file name breaks the rule",
    },
    "console.refusal.reason.no_append": {
        "ja": "追記・再開はできません",
        "en": "append or restart refused",
    },
    "console.refusal.reason.no_stou": {
        "ja": "ファイル名のない送信(STOU)",
        "en": "STOU (no file name)",
    },
    "console.refusal.reason.write_failed": {"ja": "書き込みに失敗", "en": "write failed"},
    "console.refusal.reason.no_token": {"ja": "トークンがありません", "en": "no token"},
    "console.refusal.reason.bad_token": {"ja": "トークンが違います", "en": "wrong token"},
    "console.refusal.reason.account_token_required": {
        "ja": "アカウントのトークンが必要です",
        "en": "an account's token is required",
    },
    "console.refusal.reason.unknown_path": {
        "ja": "どのアカウントの送信先でもないパス",
        "en": "no account's path",
    },
    "console.refusal.reason.unknown_parameter": {
        "ja": "知らないパラメーター",
        "en": "unknown parameter",
    },
    "console.refusal.reason.bad_parameter_value": {
        "ja": "パラメーターの値が不正",
        "en": "bad parameter value",
    },
    "console.refusal.reason.bad_settings": {"ja": "設定の指定が不正", "en": "bad settings"},
    "console.refusal.reason.missing_file": {"ja": "ファイルがありません", "en": "missing file"},
    "console.refusal.reason.unexpected_file": {
        "ja": "想定外のファイル",
        "en": "unexpected file",
    },
    "console.refusal.reason.unreadable_request": {
        "ja": "読めないリクエスト",
        "en": "unreadable request",
    },
    "console.refusal.reason.bad_query": {"ja": "クエリが不正", "en": "bad query"},
    "console.refusal.reason.account_removed": {
        "ja": "設定から外されたアカウント",
        "en": "account removed",
    },
    "console.refusal.reason.symlink": {"ja": "シンボリックリンク", "en": "symbolic link"},
    "console.refusal.reason.unreadable": {
        "ja": "読み取れないファイル",
        "en": "unreadable file",
    },
    "console.column.type.text": {"ja": "文字列", "en": "text"},
    "console.column.type.int": {"ja": "整数", "en": "integer"},
    "console.column.type.decimal": {"ja": "小数", "en": "decimal"},
    "console.column.type.date": {"ja": "日付", "en": "date"},
    "console.column.type.datetime": {"ja": "日時", "en": "date and time"},
    "console.column.type.bool": {"ja": "真偽値", "en": "yes/no"},
    "console.column.type.choice": {"ja": "選択肢", "en": "choice"},
    "cli.schedule.bad_count": {
        "ja": "--count: {value} ではなく 1 以上の数を指定してください",
        "en": "--count: {value} is not a number of 1 or more",
    },
    "cli.runs.bad_channel": {
        "ja": "--channel: {value} ではなく {channels} のいずれかを指定してください",
        "en": "--channel: {value} is not one of {channels}",
    },
    "config.env_no_name": {
        "ja": "env: の後に環境変数の名前がありません(例: env:RENKEI_TOKEN)",
        "en": "env: names no environment variable (write env:RENKEI_TOKEN, say)",
    },
    "config.secret_empty": {
        "ja": "空のトークン・パスワードは使えません",
        "en": "an empty token or password cannot be used",
    },
    "config.sha256": {
        "ja": "{value} は sha256 の 16 進数 64 桁ではありません(sha256sum の出力の先頭部分を"
        "書いてください)",
        "en": "{value} is not a sha256 in hex (64 hex digits, as sha256sum prints it)",
    },
    "config.ftp_no_password": {
        "ja": "password も password_sha256 もないため、誰も FTP でログインできません"
        "(FTP の確認はホームに置かれたファイルを取り込みます)",
        "en": "no password or password_sha256: no one can log in by FTP (the FTP checks"
        " still take what is put in its home)",
    },
    "config.token_taken": {
        "ja": "{owner} と同じトークンです。アカウントごとに別のトークンにしてください"
        "(同じだと、このアカウントのアップロードが別のアカウントとして取り込まれます)",
        "en": "the same token as {owner}: give each account its own (this account's uploads"
        " would be filed as the other's)",
    },
    "config.token_is_admin": {
        "ja": "api.admin_token と同じトークンです。取引先に全アカウントの履歴が見えてしまいます。"
        "別のトークンにしてください",
        "en": "the same token as api.admin_token: the partner would read every account's"
        " runs; give the account a token of its own",
    },
    "config.dropdir_holds_own": {
        "ja": "{value} は renkei 自身のファイルのあるフォルダ {held} か、それを含むフォルダです。"
        "設定ファイルやログ、データベースを取り込んでしまいます。専用のフォルダを指定してください",
        "en": "{value} is or holds {held}, where renkei keeps its own files (the config, its"
        " log, the database): renkei would take them as the partner's; give the account a"
        " folder of its own",
    },
    "config.layout_index": {
        "ja": "レイアウト {other} のキーの索引と同じ名前です(テーブルを作れません)。別の名前にしてください",
        "en": "the name of layout {other}'s key index (no table can have it): choose another",
    },
    "config.layout_sqlite": {
        "ja": "sqlite_ で始まる名前は SQLite が自分のテーブルに使うため使えません",
        "en": "names starting with sqlite_ are SQLite's own: choose another",
    },
    "config.column_twice": {
        "ja": "列名 {value} はこのレイアウトにすでにあります",
        "en": "the column name {value} is already in this layout",
    },
    "config.key_twice": {
        "ja": "{value} が key に二度書かれています",
        "en": "{value} is named twice in the key",
    },
    "config.values_not_choice": {
        "ja": 'values を使えるのは choice 列だけです(この列の type は {type})。type = "choice"'
        " にするか values を消してください",
        "en": "only a choice column takes values (this one's type is {type}): make it"
        ' type = "choice" or remove values',
    },
    "config.member_key_column": {
        "ja": "{value} はどのレイアウトの列でもありません",
        "en": "{value} is not a column of any layout",
    },
    "config.smtp_hostname": {
        "ja": "{value} は SMTP のあいさつに使える名前ではありません(空白や改行は使えません)",
        "en": "{value} cannot be said in the SMTP greeting (no spaces or line breaks)",
    },
    "config.smtp_hostname_idna": {
        "ja": "{value} は SMTP のあいさつに使えません(ASCII の名前だけが使えます)。"
        "日本語のドメイン名は IDNA(punycode)の形で書いてください: hostname = {idna}",
        "en": "{value} cannot be said in the SMTP greeting, which is ASCII only: write"
        " the name in its IDNA (punycode) form: hostname = {idna}",
    },
    "config.smtp_hostname_ascii": {
        "ja": "{value} は SMTP のあいさつに使えません(ASCII の名前だけが使えます)。"
        "日本語のドメイン名は IDNA(punycode、xn--…)の形で書いてください",
        "en": "{value} cannot be said in the SMTP greeting, which is ASCII only: write"
        " the name in its IDNA (punycode, xn--…) form",
    },
    "config.not_utf8": {
        "ja": "{line} 行目が UTF-8 ではありません(Shift_JIS で保存されていませんか?)。"
        "設定ファイルは UTF-8 で保存してください",
        "en": "line {line} is not UTF-8 (saved as Shift_JIS?): save the config file as UTF-8",
    },
    "config.utf16": {
        "ja": "UTF-16(「Unicode」)で保存されています。設定ファイルは UTF-8 で保存してください",
        "en": 'saved as UTF-16 ("Unicode"): save the config file as UTF-8',
    },
    "config.not_applied": {
        "ja": "新しい設定を適用できませんでした({detail})。前の設定のまま動いています",
        "en": "the new config could not be applied ({detail}); the old one goes on serving",
    },
    "store.busy": {
        "ja": "データベース {path} は別のプロセスが書き込み中でロックされたままです。"
        "しばらくしてからもう一度実行してください",
        "en": "the database {path} stayed locked by another process's write: try again in a while",
    },
    # -- a store's schema this renkei must not touch (daemon/store/open.py)
    "store.schema_newer": {
        "ja": "データベース {where} のスキーマはバージョン {version} ですが、この renkei が"
        "扱えるのはバージョン {known} までです。より新しい renkei を使ってください",
        "en": "the database {where} is at schema version {version}, but this renkei knows"
        " only up to version {known}: use a newer renkei",
    },
    "store.schema_behind": {
        "ja": "データベース {where} のスキーマはバージョン {version}、この renkei はバージョン"
        " {known} です。コマンドは renkei serve が使うデータベースを更新しません。先に"
        "デーモンを再起動して (systemctl restart renkei) 更新してください",
        "en": "the database {where} is at schema version {version}, this renkei at version"
        " {known}: a command does not upgrade the database renkei serve uses. Restart the"
        " daemon first (systemctl restart renkei) to upgrade it",
    },
    "run.system_trouble_unnamed": {
        "ja": "システムのエラーのため、後で取り込み直します: {detail}",
        "en": "to be imported later, for a system error: {detail}",
    },
    "run.system_trouble": {
        "ja": "システムのエラーのため、後で取り込み直します: {path}: {detail}",
        "en": "to be imported later, for a system error: {path}: {detail}",
    },
    # -- PostgreSQL's trouble of the moment, in a run put back (daemon/store/errors.py)
    "run.server_trouble": {
        "ja": "データベースサーバー側の問題で、いまは取り込めません({cause})。"
        "ファイルは失敗扱いにせず保留し、あとで自動的にもう一度取り込みます",
        "en": "the database server cannot take the file now ({cause}); it is not counted"
        " as failed and is tried again automatically later",
    },
    "store.trouble.connection": {
        "ja": "データベースサーバーに接続できないか、接続が切れました: {detail}",
        "en": "the database server cannot be reached or dropped the connection: {detail}",
    },
    "store.trouble.read_only": {
        "ja": "データベースが読み取り専用です(フェイルオーバー中など): {detail}",
        "en": "the database is read-only (a failover, for instance): {detail}",
    },
    "store.trouble.idle_timeout": {
        "ja": "サーバーの idle_in_transaction_session_timeout でセッションが切られました: {detail}",
        "en": "the server's idle_in_transaction_session_timeout ended the session: {detail}",
    },
    "store.trouble.resources": {
        "ja": "データベースサーバーの資源(ディスク、メモリ、接続数)が足りません: {detail}",
        "en": "the database server is short of resources (disk, memory, connections): {detail}",
    },
    "store.trouble.lock_timeout": {
        "ja": "別のセッションが表のロックを {seconds} 秒を超えて持ったままです: {detail}",
        "en": "another session held a lock on the table for more than {seconds} s: {detail}",
    },
    "store.trouble.privilege": {
        "ja": "renkei のデータベースユーザーに必要な権限がありません: {detail}",
        "en": "renkei's database user lacks a privilege it needs: {detail}",
    },
    "store.trouble.other": {
        "ja": "データベースサーバーの一時的な問題です: {detail}",
        "en": "a passing trouble of the database server: {detail}",
    },
    "api.spool_unavailable.poll": {
        "ja": "いまはスプールにファイルを取り込めません。FTP のファイルはそのまま残り、次の確認で取り込まれます。しばらくしてから確認し直してください",
        "en": "the spool cannot take files now; the uploaded files stay for the next check; check again later",
    },
}


@dataclass(frozen=True, slots=True)
class Words:
    """Catalog words given as a parameter of another sentence (a role, a run's state,
    why a workbook cannot be read): said in that sentence's language, never as their
    code nor as a library's English."""

    key: str
    params: dict[str, object] = field(default_factory=dict)

    def say(self, language: str) -> str:
        """The sentence these words make in `language`."""
        return message(self.key, language, **self.params)


def message(key: str, language: str = "ja", **params: object) -> str:
    """The sentence for `key` in `language` (English when the language is unknown)."""
    entry = CATALOG[key]
    text = entry.get(language) or entry["en"]
    said = {
        name: value.say(language) if isinstance(value, Words | Sentences) else value
        for name, value in params.items()
    }
    if ":@" in text or ":,}" in text:  # a count (str.format is faster, so only here)
        return _COUNTED.format(text, **said)
    return text.format(**said)


class _Counted(string.Formatter):
    """`{n:@row}`: "1 row", "1,000 rows"; `{n:@entry/entries}` for another plural.
    English says one of a thing apart from many; Japanese never does."""

    def format_field(self, value: object, format_spec: str) -> str:
        if format_spec == "," and not isinstance(value, int):
            return str(value)  # a number said already (a "-", a count in words)
        if not format_spec.startswith("@"):
            return super().format_field(value, format_spec)
        one, _, many = format_spec[1:].partition("/")
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        return f"{shown} {one if str(value) == '1' else many or one + 's'}"


_COUNTED = _Counted()


SHOWN_CHARACTERS = 50  # of a value quoted in a sentence (cut)
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def cut(value: object) -> str | Words:
    """A value quoted in a sentence, a long one as words for its start and its length:
    a cell of thousands of characters is kept whole in the error's value and the error
    CSV's record, not said again in every line of a report mail or `renkei show`."""
    # A line break in a cell (a quoted multi-line cell) would break the sentence over
    # lines in a mail, `renkei show` and the error CSV's one-line message cell.
    text = _LINE_BREAKS.sub("↵", str(value))
    if len(text) <= SHOWN_CHARACTERS:
        return text
    head = text[: SHOWN_CHARACTERS - 10]
    # The length of the value itself, as a limit counts it: a CRLF is two characters.
    return Words("value.cut", {"head": head, "length": f"{len(str(value)):,}"})


def quoted(value: str) -> str | Words:
    """A value a request gave, quoted as Python writes it ('x'), a long one cut."""
    shown = cut(value)
    return repr(shown) if isinstance(shown, str) else shown


# -- sentences kept to be said again -------------------------------------------------
# A run's message and its row errors are stored as the sentence in the config's
# language and as its words (catalog key and parameters, as JSON), so that the console
# says them in its viewer's language; a sentence stored without its words is shown as
# it was written. A message of several sentences is Sentences: their words in order,
# said joined by NOTE_JOIN (an import's notes) or by their own join (a send's, a space).

NOTE_JOIN = " / "


@dataclass(frozen=True, slots=True)
class Sentences:
    """Sentences said one after another, joined by `join`."""

    words: list[Words]
    join: str = NOTE_JOIN

    def say(self, language: str) -> str:
        said = [w.say(language) for w in self.words]
        text = said[0] if said else ""
        for before, sentence in zip(said, said[1:], strict=False):
            # A Japanese sentence ends in "。", which takes no space after it.
            tight = self.join.isspace() and before.endswith("。")
            text += ("" if tight else self.join) + sentence
        return text


Said = Words | Sentences


def words_json(words: Said | None) -> str:
    """`words` as stored beside their sentence ('' for none)."""
    if words is None or isinstance(words, Sentences) and not words.words:
        return ""
    return json.dumps(_plain(words), ensure_ascii=False, separators=(",", ":"), default=str)


def words_of(text: str | None) -> Said | None:
    """The words words_json() stored, or None (none stored, or not readable). A plain
    list is Sentences with NOTE_JOIN, as stores of schema 30 kept an import's notes."""
    if not text:
        return None
    try:
        data = json.loads(text)
        found = Sentences(_words(data)) if isinstance(data, list) else _words(data)
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    if isinstance(found, Words):
        return found
    if not isinstance(found, Sentences) or not isinstance(found.words, list):
        return None
    return found if found.words and all(isinstance(w, Words) for w in found.words) else None


def said(words: Said | None, text: str, language: str) -> str:
    """The sentence of `words` in `language`; `text`, as stored, without words, or with
    words this catalog no longer has (a store kept across versions)."""
    if words is None or isinstance(words, Sentences) and not words.words:
        return text
    try:
        return words.say(language)
    except (KeyError, IndexError, ValueError, TypeError):
        return text


def _plain(value: object) -> object:
    if isinstance(value, Sentences):  # a parameter of sentences (a header's problems)
        return {"j": value.join, "s": _plain(value.words)}
    if isinstance(value, Words):
        return {"k": value.key, "p": {name: _plain(v) for name, v in value.params.items()}}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _words(value: object) -> object:
    if isinstance(value, dict) and "s" in value:
        return Sentences(_words(value["s"]), str(value["j"]))
    if isinstance(value, dict):
        params = value["p"]
        return Words(str(value["k"]), {str(n): _words(v) for n, v in params.items()})
    if isinstance(value, list):
        return [_words(v) for v in value]
    return value
