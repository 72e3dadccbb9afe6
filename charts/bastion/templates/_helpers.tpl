{#- Helpers shared by every template of this chart, called as `include("name", root)`. Each macro takes
    `root`, the whole render context (Values, Chart, Release), and returns text without surrounding
    whitespace. -#}

{#- The chart name, or nameOverride; Kubernetes names stop at 63 bytes. -#}
{%- macro name(root) -%}
{{ root.Values.nameOverride | default(root.Chart.Name) | trunc(63) | trimSuffix("-") }}
{%- endmacro -%}

{#- The object name: fullnameOverride, else the release name when it already contains the chart
    name, else "<release>-<name>"; always cut to 63 bytes without a trailing "-". -#}
{%- macro fullname(root) -%}
{%- if root.Values.fullnameOverride -%}
{{ root.Values.fullnameOverride | trunc(63) | trimSuffix("-") }}
{%- else -%}
{%- set chart_name = root.Values.nameOverride | default(root.Chart.Name) -%}
{%- if contains(chart_name, root.Release.Name) -%}
{{ root.Release.Name | trunc(63) | trimSuffix("-") }}
{%- else -%}
{{ printf("%s-%s", root.Release.Name, chart_name) | trunc(63) | trimSuffix("-") }}
{%- endif -%}
{%- endif -%}
{%- endmacro -%}

{#- The helm.sh/chart label: "<chart>-<version>", with "+" (not allowed in label values) as "_". -#}
{%- macro chart(root) -%}
{{ printf("%s-%s", root.Chart.Name, root.Chart.Version) | replace("+", "_") | trunc(63) | trimSuffix("-") }}
{%- endmacro -%}

{#- Labels that select this release's pods. -#}
{%- macro selectorLabels(root) -%}
app.kubernetes.io/name: {{ include("name", root) }}
app.kubernetes.io/instance: {{ root.Release.Name }}
{%- endmacro -%}

{#- Labels on every object of the release. -#}
{%- macro labels(root) -%}
helm.sh/chart: {{ include("chart", root) }}
{{ include("selectorLabels", root) }}
{%- if root.Chart.AppVersion %}
app.kubernetes.io/version: {{ root.Chart.AppVersion | quote }}
{%- endif %}
app.kubernetes.io/managed-by: {{ root.Release.Service }}
interlink.io/role: {{ include("name", root) }}
{%- endmacro -%}
