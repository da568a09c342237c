import{cf as i}from"./index-Ci3P6hgP.js";const n=o=>["",...i].includes(o);export{n as i};
